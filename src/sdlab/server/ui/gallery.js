// The gallery: finished jobs from the server's store, newest first, each image with its parameters,
// "reuse parameters" (fills the form with its request and that image's seed) and a download link.
import { imageUrl, json } from "./api.js";
import { fillForm } from "./form.js";

const GALLERY_JOBS = 30;

export function addToGallery(job, { atTop = true, onReuse, onSource } = {}) {
  const gallery = document.getElementById("gallery");
  const figures = job.images.map((image, index) => {
    const figure = document.createElement("figure");
    const img = document.createElement("img");
    img.alt = `${job.request.prompt} (seed ${image.seed})`;
    img.dataset.seed = image.seed;
    img.dataset.job = job.id;
    imageUrl(image.url).then((url) => {
      img.src = url;
      download.href = url;
    });
    const caption = document.createElement("figcaption");
    const details = document.createElement("details");
    const summary = document.createElement("summary");
    summary.textContent = `seed ${image.seed}`;
    const text = document.createElement("pre");
    text.textContent = image.infotext;
    details.append(summary, text);
    const reuse = document.createElement("button");
    reuse.type = "button";
    reuse.className = "reuse";
    reuse.textContent = "Reuse parameters";
    reuse.addEventListener("click", () => {
      fillForm({ ...job.request, seed: image.seed, batch_size: 1, batch_count: 1 });
      onReuse?.(job, image);
    });
    const asSource = document.createElement("button");
    asSource.type = "button";
    asSource.className = "as-source";
    asSource.textContent = "Use as source";
    asSource.addEventListener("click", () => img.src && onSource?.(img.src));
    const download = document.createElement("a");
    download.textContent = "Download";
    download.download = `sdlab-${job.number}-${index}-${image.seed}.png`;
    caption.append(details, reuse, " ", asSource, " ", download);
    figure.append(img, caption);
    return figure;
  });
  if (atTop) gallery.prepend(...figures);
  else gallery.append(...figures);
}

export async function loadGallery(options) {
  const { jobs } = await json(`/sdlab/v1/jobs?limit=${GALLERY_JOBS}`);
  for (const job of jobs.reverse()) {  // the API lists oldest first
    if ((job.state === "done" || job.state === "cancelled") && job.images?.length) addToGallery(job, { ...options, atTop: false });
  }
}
