// The source image of image-to-image and inpainting, and the mask painted over it in the browser.
// The mask canvas has the source's own pixel size; white strokes mean "regenerate", the rest is kept.

const $ = (id) => document.getElementById(id);
const UNDO_LIMIT = 30;

export class SourceImage {
  constructor() {
    this.image = null; // an HTMLImageElement once a source is set
    this.undo = [];
    this.erasing = false;
    this.canvas = $("mask-canvas");
    this.context = this.canvas.getContext("2d", { willReadFrequently: true });
    this.bindPainting();
    $("mask-brush").addEventListener("click", () => this.setErasing(false));
    $("mask-eraser").addEventListener("click", () => this.setErasing(true));
    $("mask-undo").addEventListener("click", () => this.undoStroke());
    $("mask-clear").addEventListener("click", () => { this.snapshot(); this.clear(); });
    $("mask-invert").addEventListener("click", () => this.invert());
    $("source-remove").addEventListener("click", () => this.remove());
    $("source-file").addEventListener("change", (event) => event.target.files[0] && this.setFile(event.target.files[0]));
    const zone = $("source-zone");
    zone.addEventListener("dragover", (event) => event.preventDefault());
    zone.addEventListener("drop", (event) => {
      event.preventDefault();
      event.stopPropagation(); // a drop here sets the source; elsewhere it reads parameters
      if (event.dataTransfer.files[0]) this.setFile(event.dataTransfer.files[0]);
    });
  }

  async setFile(file) {
    await this.setUrl(URL.createObjectURL(file));
  }

  async setUrl(url) {
    const image = new Image();
    image.src = url;
    await image.decode();
    this.image = image;
    $("source-preview").src = url;
    this.canvas.width = image.naturalWidth;
    this.canvas.height = image.naturalHeight;
    this.undo = [];
    this.clear();
    const side = Math.max(image.naturalWidth, image.naturalHeight);
    $("mask-size").max = side;
    $("mask-size").value = Math.max(2, Math.round(side / 8));
    $("source-tools").hidden = false;
    $("source-size").textContent = `${image.naturalWidth}x${image.naturalHeight}`;
  }

  remove() {
    this.image = null;
    $("source-preview").removeAttribute("src");
    $("source-tools").hidden = true;
    $("source-file").value = "";
  }

  setErasing(erasing) {
    this.erasing = erasing;
    $("mask-brush").setAttribute("aria-pressed", String(!erasing));
    $("mask-eraser").setAttribute("aria-pressed", String(erasing));
  }

  clear() {
    this.context.clearRect(0, 0, this.canvas.width, this.canvas.height);
  }

  snapshot() {
    this.undo.push(this.context.getImageData(0, 0, this.canvas.width, this.canvas.height));
    if (this.undo.length > UNDO_LIMIT) this.undo.shift();
  }

  undoStroke() {
    const last = this.undo.pop();
    if (last) this.context.putImageData(last, 0, 0);
  }

  invert() {
    this.snapshot();
    const data = this.context.getImageData(0, 0, this.canvas.width, this.canvas.height);
    for (let i = 0; i < data.data.length; i += 4) {
      const painted = data.data[i + 3] > 127;
      data.data.set(painted ? [0, 0, 0, 0] : [255, 255, 255, 255], i);
    }
    this.context.putImageData(data, 0, 0);
  }

  bindPainting() {
    let last = null;
    const point = (event) => {
      const box = this.canvas.getBoundingClientRect();
      return [(event.clientX - box.left) * this.canvas.width / box.width,
              (event.clientY - box.top) * this.canvas.height / box.height];
    };
    const stroke = (from, to) => {
      const c = this.context;
      c.globalCompositeOperation = this.erasing ? "destination-out" : "source-over";
      c.strokeStyle = c.fillStyle = "white";
      c.lineCap = "round";
      c.lineWidth = Number($("mask-size").value);
      c.beginPath();
      c.moveTo(...from);
      c.lineTo(...to);
      c.stroke();
    };
    this.canvas.addEventListener("pointerdown", (event) => {
      if (!this.image) return;
      this.canvas.setPointerCapture(event.pointerId);
      this.snapshot();
      last = point(event);
      stroke(last, last);
    });
    this.canvas.addEventListener("pointermove", (event) => {
      if (!last) return;
      const next = point(event);
      stroke(last, next);
      last = next;
    });
    const end = () => { last = null; };
    this.canvas.addEventListener("pointerup", end);
    this.canvas.addEventListener("pointercancel", end);
  }

  painted() {
    const data = this.context.getImageData(0, 0, this.canvas.width, this.canvas.height).data;
    for (let i = 3; i < data.length; i += 4) if (data[i] > 127) return true;
    return false;
  }

  // The mask as the API takes it: white = regenerate, black = keep, at the source's size.
  maskDataUrl() {
    const out = document.createElement("canvas");
    out.width = this.canvas.width;
    out.height = this.canvas.height;
    const c = out.getContext("2d");
    c.fillStyle = "black";
    c.fillRect(0, 0, out.width, out.height);
    c.drawImage(this.canvas, 0, 0);
    return out.toDataURL("image/png");
  }

  sourceDataUrl() {
    const out = document.createElement("canvas");
    out.width = this.image.naturalWidth;
    out.height = this.image.naturalHeight;
    out.getContext("2d").drawImage(this.image, 0, 0);
    return out.toDataURL("image/png");
  }

  // The request fields of image-to-image (a source) or inpainting (a source and a painted mask).
  fields() {
    if (!this.image) return {};
    const fields = { task: "img2img", image: this.sourceDataUrl() };
    const strength = $("strength").value;
    if (strength !== "") fields.strength = Number(strength);
    fields.resize_mode = $("resize_mode").value;
    if (this.painted()) {
      Object.assign(fields, { task: "inpaint", mask: this.maskDataUrl(), mask_blur: Number($("mask_blur").value),
                              inpaint_only_masked: $("only_masked").checked });
      if ($("only_masked").checked) fields.inpaint_padding = Number($("inpaint_padding").value);
    }
    return fields;
  }
}
