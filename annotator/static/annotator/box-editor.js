// Person boxes drawn over the image in an SVG whose units are the original
// image's pixels, so a box on screen is the box that is submitted.
// Pointer events cover mouse, pen and touch alike.
//
// Drawing in crowded scenes (docs/worker-pages.md): a drag that starts outside the chosen box always
// draws a new box, even inside another box; Shift+drag draws anywhere; a click (a tap) chooses the
// smallest box under it; only the chosen box moves when dragged, and its corners resize it.
// Zoom: Ctrl+wheel (a trackpad's pinch), a two-finger pinch, the + − Fit buttons and keys; the
// photo's frame then scrolls (wheel, scroll bars, arrow keys) to pan. Undo and redo: buttons,
// Ctrl+Z, Ctrl+Shift+Z (Ctrl+Y).
// A box smaller than the server's minimum (each side at least minBoxFraction of the
// image's shorter side, and minBoxPixels: emotic/boxes.py's min_box_side) is enlarged
// to it when drawn or resized, with a message at the box; the server refuses smaller ones.
// A box dragged past the photo's edge is cut at the edge, with a message at the box too.

const SVG = "http://www.w3.org/2000/svg";
const HANDLE_CSS_PX = { fine: 12, touch: 24 }; // the square drawn at a corner
const HANDLE_HIT_CSS_PX = { fine: 24, touch: 44 }; // the square a pointer can grab
const LABEL_CSS_PX = 14;
const DRAG_CSS_PX = 6; // a press that moves less than this is a click, not a drag
const MAX_ZOOM = 8;
const CORNERS = ["nw", "ne", "sw", "se"];
const FINGER_KEY = "emotic.fingerDraws";
const HISTORY_LIMIT = 200;
const CLAMPED = "Kept inside the photo: the part outside it was cut off";
const coarsePointer = window.matchMedia("(pointer: coarse)");

export class BoxEditor {
  constructor(svg, { onChange, minBoxFraction = 0, minBoxPixels = 1 } = {}) {
    this.svg = svg;
    this.viewport = svg.closest(".canvas"); // scrolls when zoomed in
    this.inner = svg.parentElement; // the photo and its boxes, --zoom times the size that fits
    this.tools = svg.closest(".stage")?.querySelector(".stage-tools") ?? null;
    this.onChange = onChange || (() => {});
    this.minBoxFraction = minBoxFraction;
    this.minBoxPixels = minBoxPixels;
    this.notice = null; // { index, text }: a box just enlarged to the minimum size, or cut at the edge
    this.boxes = [];
    this.selected = -1;
    this.editable = false;
    this.drag = null;
    this.pinch = null;
    this.pointers = new Map(); // touch points on the photo, for pinching
    this.history = []; // earlier states of the boxes, for undo
    this.future = []; // undone states, for redo
    this.lastNudge = null;
    this.zoom = 1;
    this.pointerType = coarsePointer.matches ? "touch" : "mouse";
    this.fingerDraws = localStorage.getItem(FINGER_KEY) !== "off";
    svg.addEventListener("pointerdown", (event) => this.pointerDown(event));
    svg.addEventListener("pointermove", (event) => this.pointerMove(event));
    svg.addEventListener("pointerup", (event) => this.pointerUp(event));
    svg.addEventListener("pointercancel", (event) => this.pointerUp(event));
    this.viewport?.addEventListener("wheel", (event) => this.wheel(event), { passive: false });
    this.tools?.addEventListener("click", (event) => this.toolClicked(event));
    document.addEventListener("keydown", (event) => this.keyDown(event));
    this.updateFingerMode();
  }

  // An editable boxes task, starting from the suggested (imported) boxes.
  edit(width, height, boxes) {
    this.setImage(width, height);
    this.minSide = minBoxSide(width, height, this.minBoxFraction, this.minBoxPixels);
    this.notice = null;
    this.editable = true;
    this.personBox = null;
    this.boxes = boxes.map(([x1, y1, x2, y2]) => ({ x1, y1, x2, y2, suggested: true }));
    this.selected = -1;
    this.forgetHistory();
    this.svg.classList.add("editable");
    this.render();
  }

  // An emotions task: the one person's box, fixed, with the rest of the scene left visible.
  showPerson(width, height, box) {
    this.setImage(width, height);
    this.editable = false;
    this.personBox = box;
    this.boxes = [];
    this.selected = -1;
    this.forgetHistory();
    this.svg.classList.remove("editable");
    this.render();
  }

  setImage(width, height) {
    this.width = width;
    this.height = height;
    this.viewport?.style.setProperty("--ratio", String(width / height));
    this.setZoom(1);
  }

  answer() {
    const side = this.minSide || 1;
    return this.boxes.map((b) => {
      const x1 = clamp(Math.round(Math.min(b.x1, b.x2)), 0, this.width - side);
      const y1 = clamp(Math.round(Math.min(b.y1, b.y2)), 0, this.height - side);
      const x2 = clamp(Math.round(Math.max(b.x1, b.x2)), x1 + side, this.width);
      const y2 = clamp(Math.round(Math.max(b.y1, b.y2)), y1 + side, this.height);
      return [x1, y1, x2, y2];
    });
  }

  // Grow a box under the minimum side to it, inside the image; true when it had to.
  enforceMinimum(index) {
    const box = this.boxes[index];
    const side = this.minSide || 1;
    let grown = false;
    for (const [low, high, limit] of [["x1", "x2", this.width], ["y1", "y2", this.height]]) {
      if (box[high] - box[low] >= side) continue;
      box[high] = Math.min(box[low] + side, limit);
      box[low] = box[high] - side;
      grown = true;
    }
    this.notice = grown ? { index, text: `Enlarged: boxes need sides of at least ${side} px` } : null;
    return grown;
  }

  restore(boxes) {
    this.boxes = boxes.map(([x1, y1, x2, y2]) => ({ x1, y1, x2, y2, suggested: false }));
    this.selected = -1;
    this.forgetHistory();
    this.render();
  }

  // --- undo, redo ------------------------------------------------------------------
  snapshot() {
    return JSON.stringify(this.boxes.map(({ x1, y1, x2, y2, suggested }) => ({ x1, y1, x2, y2, suggested: Boolean(suggested) })));
  }

  // Call before a change: what is there now becomes the state that Undo returns to.
  record(state = this.snapshot()) {
    this.history.push(state);
    if (this.history.length > HISTORY_LIMIT) this.history.shift();
    this.future = [];
    this.lastNudge = null;
  }

  forgetHistory() {
    this.history = [];
    this.future = [];
    this.lastNudge = null;
  }

  undo() {
    if (!this.editable || !this.history.length) return false;
    this.future.push(this.snapshot());
    this.load(this.history.pop());
    return true;
  }

  redo() {
    if (!this.editable || !this.future.length) return false;
    this.history.push(this.snapshot());
    this.load(this.future.pop());
    return true;
  }

  load(state) {
    this.boxes = JSON.parse(state);
    this.selected = Math.min(this.selected, this.boxes.length - 1);
    this.notice = null;
    this.lastNudge = null;
    this.changed();
  }

  // --- keyboard -----------------------------------------------------------
  addCentredBox() {
    this.record();
    const w = this.width / 4;
    const h = this.height / 2;
    this.boxes.push({ x1: (this.width - w) / 2, y1: (this.height - h) / 2, x2: (this.width + w) / 2, y2: (this.height + h) / 2 });
    this.select(this.boxes.length - 1);
    this.changed();
  }

  // Choose box `index`; -1 (or no box) chooses none.
  select(index) {
    this.selected = index >= 0 && index < this.boxes.length ? index : -1;
    this.render();
    this.onChange({ selectionOnly: true });
  }

  selectNext(step) {
    const count = this.boxes.length;
    this.select(!count ? -1 : this.selected < 0 ? 0 : (((this.selected + step) % count) + count) % count);
  }

  deleteBox(index = this.selected) {
    if (index < 0 || index >= this.boxes.length) return;
    this.record();
    this.boxes.splice(index, 1);
    this.notice = null;
    this.selected = Math.min(index, this.boxes.length - 1);
    this.changed();
  }

  nudge(dx, dy, resize) {
    const box = this.boxes[this.selected];
    if (!box) return false;
    // A run of key presses on one box is one step to undo.
    const now = performance.now();
    const run = this.lastNudge && this.lastNudge.index === this.selected && now - this.lastNudge.at < 1000;
    if (!run) this.record();
    this.lastNudge = { index: this.selected, at: now };
    if (resize) {
      box.x2 = clamp(box.x2 + dx, box.x1 + (this.minSide || 1), this.width);
      box.y2 = clamp(box.y2 + dy, box.y1 + (this.minSide || 1), this.height);
    } else {
      const w = box.x2 - box.x1;
      const h = box.y2 - box.y1;
      box.x1 = clamp(box.x1 + dx, 0, this.width - w);
      box.y1 = clamp(box.y1 + dy, 0, this.height - h);
      box.x2 = box.x1 + w;
      box.y2 = box.y1 + h;
    }
    box.suggested = false;
    this.changed();
    return true;
  }

  // Keys of the photo's own: undo and redo, zoom, and panning a zoomed photo with the arrows
  // (the arrows move the chosen box when there is one: annotate.js). Single keys (+ − 0) go
  // through shortcuts.js's switch like every other single-key shortcut.
  keyDown(event) {
    if (!this.width || !this.svg.getClientRects().length || document.querySelector("dialog[open]")) return;
    if (typing(event.target)) return;
    const key = event.key;
    if ((event.ctrlKey || event.metaKey) && !event.altKey) {
      const letter = key.toLowerCase();
      const done = letter === "z" ? (event.shiftKey ? this.redo() : this.undo()) : letter === "y" ? this.redo() : null;
      if (done !== null) event.preventDefault();
      return;
    }
    if (event.altKey || event.ctrlKey || event.metaKey) return;
    if (key === "+" || key === "=") this.setZoom(this.zoom * 1.5);
    else if (key === "-" || key === "_") this.setZoom(this.zoom / 1.5);
    else if (key === "0" && this.editable) this.setZoom(1);
    else if (key.startsWith("Arrow") && this.zoom > 1 && !(this.editable && this.selected >= 0)) this.pan(key);
    else return;
    event.preventDefault();
  }

  pan(key) {
    const step = 0.15;
    const dx = { ArrowLeft: -1, ArrowRight: 1 }[key] || 0;
    const dy = { ArrowUp: -1, ArrowDown: 1 }[key] || 0;
    this.viewport.scrollLeft += dx * step * this.viewport.clientWidth;
    this.viewport.scrollTop += dy * step * this.viewport.clientHeight;
  }

  // --- zoom -----------------------------------------------------------------------------
  // Zoom to `zoom` (1 = the whole photo fits), keeping the photo's point `anchor` (fractions of its
  // width and height; by default the one under the screen point) at the screen point (clientX, clientY).
  setZoom(zoom, clientX, clientY, anchor) {
    if (!this.viewport) return;
    const frame = this.viewport.getBoundingClientRect();
    const x = clientX ?? frame.left + frame.width / 2;
    const y = clientY ?? frame.top + frame.height / 2;
    const at = anchor ?? this.fractionAt(x, y);
    this.zoom = clamp(zoom, 1, MAX_ZOOM);
    this.viewport.style.setProperty("--zoom", String(this.zoom));
    const photo = this.inner.getBoundingClientRect();
    this.viewport.scrollLeft += photo.left + at.x * photo.width - x;
    this.viewport.scrollTop += photo.top + at.y * photo.height - y;
    const label = this.tools?.querySelector(".zoom-level");
    if (label) label.textContent = `${Math.round(this.zoom * 100)} %`;
    if (this.width) this.render(); // handles and labels keep their size on screen
  }

  fractionAt(clientX, clientY) {
    const photo = this.inner.getBoundingClientRect();
    return photo.width ? { x: (clientX - photo.left) / photo.width, y: (clientY - photo.top) / photo.height } : { x: 0.5, y: 0.5 };
  }

  wheel(event) {
    if (!this.width || !(event.ctrlKey || event.metaKey)) return; // a plain wheel scrolls: it pans a zoomed photo
    event.preventDefault();
    this.setZoom(this.zoom * Math.exp(-event.deltaY / 300), event.clientX, event.clientY);
  }

  toolClicked(event) {
    const button = event.target.closest("button[data-action]");
    if (!button) return;
    const action = button.dataset.action;
    if (action === "undo") this.undo();
    else if (action === "redo") this.redo();
    else if (action === "zoom-in") this.setZoom(this.zoom * 1.5);
    else if (action === "zoom-out") this.setZoom(this.zoom / 1.5);
    else if (action === "zoom-fit") this.setZoom(1);
    else if (action === "finger") {
      this.fingerDraws = !this.fingerDraws;
      localStorage.setItem(FINGER_KEY, this.fingerDraws ? "on" : "off");
      this.updateFingerMode();
    }
  }

  // A finger on the photo draws (touch-action: none), or scrolls the page and pans (annotate.css).
  updateFingerMode() {
    this.svg.classList.toggle("finger-scrolls", !this.fingerDraws);
    const button = this.tools?.querySelector('[data-action="finger"]');
    if (button) button.setAttribute("aria-pressed", String(this.fingerDraws));
  }

  updateTools() {
    if (!this.tools) return;
    this.tools.querySelector('[data-action="undo"]').disabled = !this.editable || !this.history.length;
    this.tools.querySelector('[data-action="redo"]').disabled = !this.editable || !this.future.length;
  }

  // --- pointer --------------------------------------------------------------
  toImageRaw(event) {
    const point = this.svg.createSVGPoint();
    point.x = event.clientX;
    point.y = event.clientY;
    return point.matrixTransform(this.svg.getScreenCTM().inverse());
  }

  toImage(event) {
    const p = this.toImageRaw(event);
    return { x: clamp(p.x, 0, this.width), y: clamp(p.y, 0, this.height) };
  }

  cssToImage(px) {
    const rect = this.svg.getBoundingClientRect();
    return rect.width ? (px * this.width) / rect.width : px;
  }

  // The smallest box containing the point: in nested boxes, the innermost person.
  boxAt(p) {
    let best = -1;
    let bestArea = Infinity;
    this.boxes.forEach((b, index) => {
      const area = (b.x2 - b.x1) * (b.y2 - b.y1);
      if (p.x >= b.x1 && p.x <= b.x2 && p.y >= b.y1 && p.y <= b.y2 && area < bestArea) {
        best = index;
        bestArea = area;
      }
    });
    return best;
  }

  pointerDown(event) {
    if (!this.editable || (event.pointerType === "mouse" && event.button !== 0)) return;
    this.pointerType = event.pointerType === "touch" ? "touch" : event.pointerType === "mouse" ? "mouse" : this.pointerType;
    if (event.pointerType === "touch") {
      this.pointers.set(event.pointerId, { x: event.clientX, y: event.clientY });
      if (this.pointers.size === 2) {
        this.startPinch();
        return;
      }
      if (this.pointers.size > 2 || this.pinch) return;
    }
    event.preventDefault();
    const p = this.toImage(event);
    const before = this.snapshot();
    const corner = event.target.dataset?.corner;
    const chosen = this.boxes[this.selected];
    if (corner && chosen) {
      const fixedX = corner.includes("w") ? chosen.x2 : chosen.x1;
      const fixedY = corner.includes("n") ? chosen.y2 : chosen.y1;
      this.drag = { mode: "resize", index: this.selected, fixedX, fixedY };
    } else if (chosen && !event.shiftKey && inside(chosen, p)) {
      this.drag = { mode: "move", index: this.selected, dx: p.x - chosen.x1, dy: p.y - chosen.y1 };
    } else {
      // A new box once the pointer has moved; a click (a tap) chooses the box under it.
      this.drag = { mode: "press", index: -1 };
    }
    // Until the pointer has moved a few pixels this is a click: it changes nothing but the choice.
    Object.assign(this.drag, { before, start: p, startX: event.clientX, startY: event.clientY, moved: false, outside: false });
    this.svg.setPointerCapture(event.pointerId);
  }

  pointerMove(event) {
    if (this.pointers.has(event.pointerId)) this.pointers.set(event.pointerId, { x: event.clientX, y: event.clientY });
    if (this.pinch) {
      this.movePinch();
      return;
    }
    if (!this.drag) return;
    event.preventDefault();
    if (!this.drag.moved) {
      if (Math.hypot(event.clientX - this.drag.startX, event.clientY - this.drag.startY) < DRAG_CSS_PX) return;
      this.drag.moved = true;
    }
    if (this.drag.mode === "press") {
      const { x, y } = this.drag.start;
      this.boxes.push({ x1: x, y1: y, x2: x, y2: y });
      Object.assign(this.drag, { mode: "draw", index: this.boxes.length - 1, fixedX: x, fixedY: y });
      this.selected = this.drag.index;
    }
    const raw = this.toImageRaw(event);
    const p = { x: clamp(raw.x, 0, this.width), y: clamp(raw.y, 0, this.height) };
    const box = this.boxes[this.drag.index];
    if (this.drag.mode === "move") {
      const w = box.x2 - box.x1;
      const h = box.y2 - box.y1;
      box.x1 = clamp(p.x - this.drag.dx, 0, this.width - w);
      box.y1 = clamp(p.y - this.drag.dy, 0, this.height - h);
      box.x2 = box.x1 + w;
      box.y2 = box.y1 + h;
    } else {
      // Drawing or resizing past the photo's edge: the box stops at the edge, and says so.
      this.drag.outside = raw.x !== p.x || raw.y !== p.y;
      box.x1 = Math.min(this.drag.fixedX, p.x);
      box.x2 = Math.max(this.drag.fixedX, p.x);
      box.y1 = Math.min(this.drag.fixedY, p.y);
      box.y2 = Math.max(this.drag.fixedY, p.y);
    }
    box.suggested = false;
    this.render();
  }

  pointerUp(event) {
    this.pointers.delete(event.pointerId);
    if (this.pinch) {
      if (this.pointers.size < 2) this.pinch = null;
      return;
    }
    if (!this.drag) return;
    const { index, mode, before, outside, start, moved } = this.drag;
    this.drag = null;
    if (this.svg.hasPointerCapture(event.pointerId)) this.svg.releasePointerCapture(event.pointerId);
    if (event.type === "pointercancel") {
      // The browser took the gesture (a scroll in "finger scrolls" mode): nothing changes.
      this.boxes = JSON.parse(before);
      this.selected = Math.min(this.selected, this.boxes.length - 1);
      this.render();
      return;
    }
    if (!moved) {
      // A click (a tap) chooses the innermost box under it, or none; on a corner handle it does nothing.
      if (mode !== "resize") {
        this.notice = null;
        this.select(this.boxAt(start));
      }
      return;
    }
    const grown = this.enforceMinimum(index);
    if (outside && !grown) this.notice = { index, text: CLAMPED };
    if (this.snapshot() !== before) this.record(before);
    this.changed();
  }

  // Two fingers: pinch to zoom, move to pan; a box begun by the first finger is dropped.
  startPinch() {
    if (this.drag) {
      this.boxes = JSON.parse(this.drag.before);
      this.selected = Math.min(this.selected, this.boxes.length - 1);
      this.drag = null;
      this.render();
    }
    const [a, b] = [...this.pointers.values()];
    const middle = { x: (a.x + b.x) / 2, y: (a.y + b.y) / 2 };
    this.pinch = { distance: Math.max(Math.hypot(a.x - b.x, a.y - b.y), 1), zoom: this.zoom, anchor: this.fractionAt(middle.x, middle.y) };
  }

  movePinch() {
    const [a, b] = [...this.pointers.values()];
    if (!b) return;
    const distance = Math.max(Math.hypot(a.x - b.x, a.y - b.y), 1);
    this.setZoom((this.pinch.zoom * distance) / this.pinch.distance, (a.x + b.x) / 2, (a.y + b.y) / 2, this.pinch.anchor);
  }

  changed() {
    this.render();
    this.onChange({ selectionOnly: false });
  }

  // --- drawing --------------------------------------------------------------
  render() {
    const svg = this.svg;
    svg.setAttribute("viewBox", `0 0 ${this.width} ${this.height}`);
    svg.replaceChildren();
    this.updateTools();
    if (this.personBox) {
      const [x1, y1, x2, y2] = this.personBox;
      const shade = element("path", {
        class: "shade",
        "fill-rule": "evenodd",
        d: `M0 0H${this.width}V${this.height}H0Z M${x1} ${y1}V${y2}H${x2}V${y1}Z`,
      });
      svg.append(shade, element("rect", { class: "person-box", x: x1, y: y1, width: x2 - x1, height: y2 - y1 }));
      return;
    }
    const touch = this.pointerType === "touch" || coarsePointer.matches;
    const label = this.cssToImage(LABEL_CSS_PX);
    const handle = this.cssToImage(touch ? HANDLE_CSS_PX.touch : HANDLE_CSS_PX.fine);
    const grip = this.cssToImage(touch ? HANDLE_HIT_CSS_PX.touch : HANDLE_HIT_CSS_PX.fine);
    this.boxes.forEach((box, index) => {
      const group = element("g", { class: `box${index === this.selected ? " selected" : ""}${box.suggested ? " suggested" : ""}` });
      group.append(
        element("rect", { class: "box-body", "data-index": index, x: box.x1, y: box.y1, width: box.x2 - box.x1, height: box.y2 - box.y1 }),
        element("text", { class: "box-label", x: box.x1 + label * 0.3, y: box.y1 + label * 1.1, "font-size": label }, String(index + 1)),
      );
      if (this.notice && this.notice.index === index) {
        const size = label * 0.95;
        const below = box.y2 + size * 1.3 <= this.height;
        group.append(
          element("text", {
            class: "box-notice", role: "status", x: clamp(box.x1, 0, Math.max(0, this.width - size * this.notice.text.length * 0.62)),
            y: below ? box.y2 + size * 1.15 : Math.max(size, box.y1 - size * 0.3), "font-size": size,
          }, this.notice.text),
        );
      }
      if (index === this.selected) {
        // Corner handles stay wholly inside the photo, so none is cut in half at its edge.
        for (const corner of CORNERS) {
          const cx = corner.includes("w") ? box.x1 : box.x2;
          const cy = corner.includes("n") ? box.y1 : box.y2;
          const square = (side) => ({
            x: clamp(cx - side / 2, 0, this.width - side),
            y: clamp(cy - side / 2, 0, this.height - side),
            width: side,
            height: side,
          });
          group.append(
            element("rect", { class: `handle ${corner}`, ...square(handle) }),
            element("rect", { class: `handle-hit ${corner}`, "data-index": index, "data-corner": corner, ...square(grip) }),
          );
        }
      }
      svg.append(group);
    });
  }
}

function element(name, attributes, text) {
  const node = document.createElementNS(SVG, name);
  for (const [key, value] of Object.entries(attributes)) node.setAttribute(key, value);
  if (text !== undefined) node.textContent = text;
  return node;
}

function inside(box, p) {
  return p.x >= box.x1 && p.x <= box.x2 && p.y >= box.y1 && p.y <= box.y2;
}

function typing(target) {
  return Boolean(target.matches?.('input[type="search"], input[type="text"], textarea, select') || target.isContentEditable);
}

// The same rule as emotic/boxes.py's min_box_side: a share of the shorter side, rounded up, with a floor,
// never more than the shorter side.
export function minBoxSide(width, height, fraction, floor) {
  const shorter = Math.min(width, height);
  return Math.min(shorter, Math.max(floor, Math.ceil(Number((fraction * shorter).toFixed(6)))));
}

function clamp(value, low, high) {
  return Math.min(Math.max(value, low), high);
}
