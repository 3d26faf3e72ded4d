// Experiments: an X/Y sweep of the generate form's request, run as a job; the labelled grid, the metric table
// and the plots appear when it is done. The guidance and strength exercises are one-click presets.
import { call, imageUrl, json } from "./api.js";

const $ = (id) => document.getElementById(id);
const POLL_MS = 500;

function axis(nameId, valuesId) {
  const name = $(nameId).value;
  const values = $(valuesId).value.trim();
  return name && values ? `${name}=${values}` : null;
}

function setAxis(nameId, valuesId, spec) {
  const [name, values] = spec ? spec.split(/=(.*)/s) : ["", ""];
  $(nameId).value = name;
  $(valuesId).value = values ?? "";
}

function cellText(value) {
  return typeof value === "number" ? String(Number(value.toPrecision(4))) : String(value);
}

async function showResult(job) {
  const result = $("sweep-result");
  result.replaceChildren();
  const sweep = job.sweep;
  const grid = document.createElement("img");
  grid.id = "sweep-grid";
  grid.alt = `Sweep grid: ${sweep.x_title}${sweep.y_title ? ` by ${sweep.y_title}` : ""}`;
  grid.src = await imageUrl(sweep.urls["grid.png"]);
  const table = document.createElement("table");
  table.id = "sweep-table";
  const reserved = new Set(["cell", "first_image"]);
  const keys = [...new Set(sweep.rows.flatMap((row) => Object.keys(row)))].filter((key) => !reserved.has(key));
  const head = table.createTHead().insertRow();
  for (const key of keys) head.append(Object.assign(document.createElement("th"), { scope: "col", textContent: key }));
  const body = table.createTBody();
  for (const row of sweep.rows) {
    const tr = body.insertRow();
    for (const key of keys) tr.insertCell().textContent = row[key] === undefined ? "" : cellText(row[key]);
  }
  const plots = document.createElement("div");
  plots.className = "plots";
  for (const name of sweep.files.filter((file) => file.startsWith("plot-"))) {
    const plot = document.createElement("img");
    plot.alt = `Plot of ${name.slice(5, -4)} over ${sweep.x_title}`;
    plot.src = await imageUrl(sweep.urls[name]);
    plots.append(plot);
  }
  const links = document.createElement("p");
  for (const name of ["results.csv", "results.json"]) {
    const link = document.createElement("a");
    link.textContent = name;
    link.download = `sdlab-sweep-${job.number}-${name}`;
    imageUrl(sweep.urls[name]).then((url) => { link.href = url; });
    links.append(link, " ");
  }
  result.append(grid, table, plots, links);
}

export async function setUpExperiments({ readRequest, hasSource, setPrompt, say }) {
  const { axes, presets } = await json("/sdlab/v1/sweeps/axes");
  for (const id of ["x-name", "y-name"]) {
    if (id === "y-name") $(id).append(new Option("none", ""));
    for (const item of axes) $(id).append(new Option(item.title, item.name));
  }
  $("x-name").value = "cfg";
  let running = null;

  for (const [name, preset] of Object.entries(presets)) {
    $(`preset-${name}`).addEventListener("click", () => {
      if (preset.needs_image && !hasSource()) {
        $("sweep-status").textContent = "the strength exercise needs a source image: add one above first";
        return;
      }
      setAxis("x-name", "x-values", preset.x);
      setAxis("y-name", "y-values", null);
      setPrompt(preset.prompt);
      $("sweep-status").textContent = `${name} exercise: press Run sweep`;
    });
  }

  $("sweep-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const x = axis("x-name", "x-values");
    if (!x) {
      $("sweep-status").textContent = "x: choose a parameter and give its values";
      $("x-values").focus();
      return;
    }
    const body = { ...readRequest(), x };
    const y = axis("y-name", "y-values");
    if (y) body.y = y;
    try {
      running = await json("/sdlab/v1/sweeps", { method: "POST", body });
    } catch (error) {
      $("sweep-status").textContent = error.message;
      return;
    }
    $("sweep-cancel").hidden = false;
    for (;;) {
      const job = await json(`/sdlab/v1/jobs/${running.id}`);
      const cells = job.progress ? ` (${job.progress.cells_done}/${job.progress.cells} cells)` : "";
      $("sweep-status").textContent = `sweep job ${job.number} ${job.state}${cells}`;
      if (["done", "failed", "cancelled"].includes(job.state)) {
        if (job.state === "done") await showResult(job);
        if (job.state === "failed") $("sweep-status").textContent = `sweep failed: ${job.error}`;
        say?.(`sweep job ${job.number} ${job.state}`);
        break;
      }
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    }
    $("sweep-cancel").hidden = true;
    running = null;
  });
  $("sweep-cancel").addEventListener("click", () => running && call(`/sdlab/v1/jobs/${running.id}/cancel`, { method: "POST" }));
}
