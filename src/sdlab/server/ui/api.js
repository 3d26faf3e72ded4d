// The server's APIs as the page uses them: the key (asked once, kept in this browser), JSON calls,
// the job event stream (read with fetch, since EventSource cannot send the key), and images as blobs.

const KEY = "sdlab-api-key";

export class ApiError extends Error {
  constructor(status, field, message) {
    super(field ? `${field}: ${message}` : message);
    this.status = status;
    this.field = field;
  }
}

function headers(extra = {}) {
  const key = localStorage.getItem(KEY);
  return key ? { ...extra, Authorization: `Bearer ${key}` } : extra;
}

async function askForKey() {
  const dialog = document.getElementById("key-dialog");
  const input = document.getElementById("key");
  input.value = "";
  dialog.showModal();
  await new Promise((resolve) => dialog.addEventListener("close", resolve, { once: true }));
  localStorage.setItem(KEY, input.value);
}

export async function call(path, { method = "GET", body } = {}) {
  for (let attempt = 0; ; attempt++) {
    const init = { method, headers: headers(body === undefined ? {} : { "Content-Type": "application/json" }) };
    if (body !== undefined) init.body = JSON.stringify(body);
    const response = await fetch(path, init);
    if (response.status === 401 && attempt < 3) {
      await askForKey();
      continue;
    }
    if (!response.ok) {
      const error = await response.json().catch(() => ({}));
      const detail = error.error || {};
      throw new ApiError(response.status, detail.field, detail.message || response.statusText);
    }
    return response;
  }
}

export async function json(path, options) {
  return (await call(path, options)).json();
}

// Yields {event, data} for each server-sent event of a job until the stream ends.
export async function* jobEvents(jobId) {
  const response = await call(`/sdlab/v1/jobs/${jobId}/events`);
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value;
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const event = { event: "message", data: "" };
      for (const line of block.split("\n")) {
        if (line.startsWith("event: ")) event.event = line.slice(7);
        else if (line.startsWith("data: ")) event.data += line.slice(6);
      }
      if (event.data) yield { event: event.event, data: JSON.parse(event.data) };
    }
  }
}

// An image the server holds, as a URL the page can show (fetched with the key).
export async function imageUrl(path) {
  const blob = await (await call(path)).blob();
  return URL.createObjectURL(blob);
}
