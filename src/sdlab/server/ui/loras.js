// The LoRA picker: the server's LoRAs by name, with their trigger words; adding one writes its
// <lora:NAME:WEIGHT> tag into the prompt (the prompt stays the one place the request is read from).
import { json } from "./api.js";

const $ = (id) => document.getElementById(id);

function insert(text) {
  const prompt = $("prompt");
  const current = prompt.value.trimEnd();
  prompt.value = current ? `${current}, ${text}` : text;
}

function describe(lora) {
  $("lora-about").textContent = lora ? `${lora.format}${lora.rank ? `, rank ${lora.rank}` : ""}, ${lora.base}` : "";
  const triggers = $("lora-triggers");
  triggers.replaceChildren();
  for (const word of lora?.triggers ?? []) {
    const button = document.createElement("button");
    button.type = "button";
    button.className = "trigger";
    button.textContent = word;
    button.addEventListener("click", () => insert(word));
    triggers.append(button);
  }
}

export async function setUpLoras() {
  const { loras } = await json("/sdlab/v1/loras");
  const usable = loras.filter((lora) => !lora.format.startsWith("unreadable") && lora.format !== "not safetensors");
  $("lora-picker").hidden = usable.length === 0;
  const pick = $("lora-pick");
  for (const lora of usable) pick.append(new Option(lora.name, lora.name));
  const chosen = () => usable.find((lora) => lora.name === pick.value);
  pick.addEventListener("change", () => describe(chosen()));
  describe(chosen());
  $("lora-add").addEventListener("click", () => {
    const lora = chosen();
    if (lora) insert(`<lora:${lora.name}:${Number($("lora-weight").value || 1)}>`);
  });
}
