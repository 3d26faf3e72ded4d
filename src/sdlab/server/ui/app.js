// The page: the generate form, live progress with previews, cancel and skip, the queue, the gallery,
// and images dropped on the page (or picked) filling the form from their A1111 infotext.
import { ApiError, call, jobEvents, json } from "./api.js";
import { fillForm, readForm } from "./form.js";
import { setUpExperiments } from "./experiments.js";
import { addToGallery, loadGallery } from "./gallery.js";
import { setUpLoras } from "./loras.js";
import { SourceImage } from "./source.js";

const $ = (id) => document.getElementById(id);
const form = $("generate");
const source = new SourceImage();
const MINE = "sdlab-my-jobs"; // the jobs this browser tab submitted, marked in the queue
const mine = new Set(JSON.parse(sessionStorage.getItem(MINE) || "[]"));
let lastSeed = null;
let running = null; // the job this page is following

function say(text, isError = false) {
  $("status").textContent = text;
  $("status").classList.toggle("error", isError);
}

function option(select, value, label = value) {
  const element = document.createElement("option");
  element.value = value;
  element.textContent = label;
  select.append(element);
}

async function fillChoices() {
  const [models, samplers, schedules] = await Promise.all([
    json("/sdapi/v1/sd-models"), json("/sdapi/v1/samplers"), json("/sdapi/v1/schedulers")]);
  option($("model"), "", "served model");
  for (const model of models) option($("model"), model.title);
  option($("sampler"), "", "model default");
  for (const sampler of samplers) option($("sampler"), sampler.name);
  option($("schedule"), "", "automatic");
  for (const schedule of schedules) {
    if (schedule.name !== "automatic") option($("schedule"), schedule.name.replace("_", " "), schedule.label);
  }
}

async function generate(event) {
  event?.preventDefault();
  if (!$("prompt").value.trim()) {
    say("prompt: write what to draw", true);
    $("prompt").focus();
    return;
  }
  try {
    const job = await json("/sdlab/v1/jobs", { method: "POST", body: { ...readForm(), ...source.fields() } });
    mine.add(job.id);
    sessionStorage.setItem(MINE, JSON.stringify([...mine]));
    say(`job ${job.number} queued`);
    follow(job);
    refreshQueue();
  } catch (error) {
    say(error.message, true);
    if (error instanceof ApiError && error.field && $(error.field)) $(error.field).focus();
  }
}

async function follow(job) {
  running = job;
  $("running").hidden = false;
  $("progress").value = 0;
  $("progress-text").textContent = "waiting in the queue";
  let finished = null;
  for await (const { event, data } of jobEvents(job.id)) {
    if (event === "step") {
      const total = job.request.batch_count || 1;
      $("progress").value = (data.batch + data.step / data.total) / total;
      $("progress-text").textContent = `batch ${data.batch + 1}/${total} · step ${data.step}/${data.total}`;
      if (data.previews && data.previews.length) $("preview").src = data.previews[0];
    } else if (event === "finished") {
      finished = data;
    }
  }
  running = null;
  $("running").hidden = true;
  if (finished) await show(finished);
  refreshQueue();
}

async function show(job) {
  if (job.state === "failed") {
    say(`job ${job.number} failed: ${job.error_field ? job.error_field + ": " : ""}${job.error}`, true);
    return;
  }
  say(`job ${job.number} ${job.state}: ${job.images.length} image(s) in ${job.seconds} s`);
  addToGallery(job, { onReuse: reused, onSource: useAsSource });
  if (job.images.length) lastSeed = job.images[job.images.length - 1].seed;
}

function reused(job, image) {
  say(`parameters of job ${job.number}, seed ${image.seed}`);
  $("prompt").focus();
}

async function useAsSource(url) {
  await source.setUrl(url);
  say("the image is the source now: paint a mask to inpaint, or generate to redraw it");
  $("source-zone").scrollIntoView({ block: "nearest" });
}

// An image's A1111 infotext (sdlab's or A1111's own) into the form.
async function readParameters(file) {
  if (!file || !file.type.startsWith("image/")) {
    say("drop a PNG, JPEG or WEBP image to read its parameters", true);
    return;
  }
  const data = await new Promise((resolve) => {
    const reader = new FileReader();
    reader.onload = () => resolve(reader.result);
    reader.readAsDataURL(file);
  });
  try {
    const { fields } = await json("/sdlab/v1/parameters", { method: "POST", body: { image: data } });
    fillForm(fields);
    say(`parameters read from ${file.name}`);
  } catch (error) {
    say(`${file.name}: ${error.message}`, true);
  }
}

async function refreshQueue() {
  const { jobs } = await json("/sdlab/v1/jobs?limit=50");
  const waiting = jobs.filter((job) => job.state === "queued" || job.state === "running");
  const done = jobs.filter((job) => job.state === "done" && job.seconds);
  const average = done.length ? done.reduce((sum, job) => sum + job.seconds, 0) / done.length : null;
  const list = $("queue");
  list.replaceChildren();
  waiting.forEach((job, position) => {
    const item = document.createElement("li");
    const eta = average ? ` · done in about ${Math.round(average * (position + 1))} s` : "";
    const whose = mine.has(job.id) ? " (yours)" : "";
    const where = job.state === "running" ? "running" : `${position} ahead`;
    item.textContent = `job ${job.number}${whose}, ${where}: ${(job.request.prompt || "").slice(0, 60)}${eta}`;
    item.classList.toggle("mine", mine.has(job.id));
    list.append(item);
  });
  if (!waiting.length) list.append(Object.assign(document.createElement("li"), { textContent: "empty", className: "empty" }));
  if (waiting.length) setTimeout(refreshQueue, 1000);
}

form.addEventListener("submit", generate);
document.addEventListener("keydown", (event) => {
  if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
    event.preventDefault();
    form.requestSubmit(); // through the browser's own checks of the fields, as the button
  }
});
$("seed-random").addEventListener("click", () => { $("seed").value = -1; });
$("seed-reuse").addEventListener("click", () => { if (lastSeed !== null) $("seed").value = lastSeed; });
$("cancel").addEventListener("click", () => running && call(`/sdlab/v1/jobs/${running.id}/cancel`, { method: "POST" }));
$("skip").addEventListener("click", () => running && call(`/sdlab/v1/jobs/${running.id}/skip`, { method: "POST" }));

$("read-parameters").addEventListener("change", (event) => readParameters(event.target.files[0]));
document.addEventListener("dragover", (event) => event.preventDefault());
document.addEventListener("drop", (event) => {
  event.preventDefault();
  readParameters(event.dataTransfer.files[0]);
});

fillChoices()
  .then(() => Promise.all([
    refreshQueue(), setUpLoras(), loadGallery({ onReuse: reused, onSource: useAsSource }),
    setUpExperiments({ readRequest: () => ({ ...readForm(), ...source.fields() }), hasSource: () => source.image !== null,
                       setPrompt: (text) => { if (!$("prompt").value.trim()) $("prompt").value = text; }, say })]))
  .catch((error) => say(error.message, true));
