// The generate form as request fields, and back: filling it from a job's request or an image's infotext.

const $ = (id) => document.getElementById(id);
export const NUMBERS = ["steps", "cfg", "width", "height", "batch_size", "batch_count", "seed"];

export function readForm() {
  const fields = { prompt: $("prompt").value, negative_prompt: $("negative_prompt").value };
  for (const name of NUMBERS) {
    const value = $(name).value.trim();
    if (value !== "") fields[name] = Number(value);
  }
  for (const name of ["model", "sampler", "schedule"]) if ($(name).value) fields[name] = $(name).value;
  return fields;
}

function choose(select, value) {
  const options = [...select.options].map((option) => option.value);
  const exact = options.find((option) => option.toLowerCase() === String(value).toLowerCase());
  if (exact !== undefined) select.value = exact;
  return exact !== undefined;
}

// A sampler as A1111 writes it may carry its schedule ("DPM++ 2M Karras"): pick the longest sampler it starts with.
function chooseSampler(name, schedule) {
  if (!choose($("sampler"), name)) {
    const known = [...$("sampler").options].map((option) => option.value).filter((value) => value);
    const base = known.filter((value) => name.toLowerCase().startsWith(value.toLowerCase() + " "))
      .sort((a, b) => b.length - a.length)[0];
    if (base) {
      $("sampler").value = base;
      schedule = schedule || name.slice(base.length + 1);
    }
  }
  $("schedule").value = "";
  if (schedule) choose($("schedule"), schedule);
}

// Fill the form with request fields (a job's request, or what an image's infotext records); missing ones are left.
export function fillForm(fields) {
  for (const name of ["prompt", "negative_prompt"]) if (fields[name] !== undefined) $(name).value = fields[name] ?? "";
  for (const name of NUMBERS) if (fields[name] !== undefined && fields[name] !== null) $(name).value = fields[name];
  if (fields.model !== undefined) choose($("model"), fields.model ?? "") || ($("model").value = "");
  if (fields.sampler) chooseSampler(fields.sampler, fields.schedule);
}
