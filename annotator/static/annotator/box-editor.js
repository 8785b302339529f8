// Person boxes drawn over the image in an SVG whose units are the original
// image's pixels, so a box on screen is the box that is submitted.
// Pointer events cover mouse, pen and touch alike.
// A box smaller than the server's minimum (each side at least minBoxFraction of the
// image's shorter side, and minBoxPixels: emotic/boxes.py's min_box_side) is enlarged
// to it when drawn or resized, with a message at the box; the server refuses smaller ones.

const SVG = "http://www.w3.org/2000/svg";
const HANDLE_CSS_PX = 14;
const MIN_BOX_CSS_PX = 6;
const CORNERS = ["nw", "ne", "sw", "se"];

export class BoxEditor {
  constructor(svg, { onChange, minBoxFraction = 0, minBoxPixels = 1 } = {}) {
    this.svg = svg;
    this.onChange = onChange || (() => {});
    this.minBoxFraction = minBoxFraction;
    this.minBoxPixels = minBoxPixels;
    this.notice = null; // { index, text }: a box just enlarged to the minimum size
    this.boxes = [];
    this.selected = -1;
    this.editable = false;
    this.drag = null;
    svg.addEventListener("pointerdown", (event) => this.pointerDown(event));
    svg.addEventListener("pointermove", (event) => this.pointerMove(event));
    svg.addEventListener("pointerup", (event) => this.pointerUp(event));
    svg.addEventListener("pointercancel", (event) => this.pointerUp(event));
  }

  // An editable boxes task, starting from the suggested (imported) boxes.
  edit(width, height, boxes) {
    this.width = width;
    this.height = height;
    this.minSide = minBoxSide(width, height, this.minBoxFraction, this.minBoxPixels);
    this.notice = null;
    this.editable = true;
    this.personBox = null;
    this.boxes = boxes.map(([x1, y1, x2, y2]) => ({ x1, y1, x2, y2, suggested: true }));
    this.selected = -1;
    this.svg.classList.add("editable");
    this.render();
  }

  // An emotions task: the one person's box, fixed, with the rest of the scene left visible.
  showPerson(width, height, box) {
    this.width = width;
    this.height = height;
    this.editable = false;
    this.personBox = box;
    this.boxes = [];
    this.selected = -1;
    this.svg.classList.remove("editable");
    this.render();
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
    this.render();
  }

  // --- keyboard -----------------------------------------------------------
  addCentredBox() {
    const w = this.width / 4;
    const h = this.height / 2;
    this.boxes.push({ x1: (this.width - w) / 2, y1: (this.height - h) / 2, x2: (this.width + w) / 2, y2: (this.height + h) / 2 });
    this.select(this.boxes.length - 1);
    this.changed();
  }

  select(index) {
    this.selected = this.boxes.length ? ((index % this.boxes.length) + this.boxes.length) % this.boxes.length : -1;
    this.render();
    this.onChange({ selectionOnly: true });
  }

  selectNext(step) {
    this.select(this.selected < 0 ? 0 : this.selected + step);
  }

  deleteBox(index = this.selected) {
    if (index < 0 || index >= this.boxes.length) return;
    this.boxes.splice(index, 1);
    this.notice = null;
    this.selected = Math.min(index, this.boxes.length - 1);
    this.changed();
  }

  nudge(dx, dy, resize) {
    const box = this.boxes[this.selected];
    if (!box) return false;
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

  // --- pointer --------------------------------------------------------------
  toImage(event) {
    const point = this.svg.createSVGPoint();
    point.x = event.clientX;
    point.y = event.clientY;
    const p = point.matrixTransform(this.svg.getScreenCTM().inverse());
    return { x: clamp(p.x, 0, this.width), y: clamp(p.y, 0, this.height) };
  }

  cssToImage(px) {
    const rect = this.svg.getBoundingClientRect();
    return rect.width ? (px * this.width) / rect.width : px;
  }

  pointerDown(event) {
    if (!this.editable || (event.pointerType === "mouse" && event.button !== 0)) return;
    event.preventDefault();
    const p = this.toImage(event);
    const target = event.target;
    const index = Number(target.dataset.index ?? -1);
    if (target.dataset.corner) {
      const box = this.boxes[index];
      const fixedX = target.dataset.corner.includes("w") ? box.x2 : box.x1;
      const fixedY = target.dataset.corner.includes("n") ? box.y2 : box.y1;
      this.drag = { mode: "resize", index, fixedX, fixedY };
    } else if (index >= 0) {
      const box = this.boxes[index];
      this.drag = { mode: "move", index, dx: p.x - box.x1, dy: p.y - box.y1 };
    } else {
      this.boxes.push({ x1: p.x, y1: p.y, x2: p.x, y2: p.y });
      this.drag = { mode: "draw", index: this.boxes.length - 1, fixedX: p.x, fixedY: p.y };
    }
    this.selected = this.drag.index;
    this.svg.setPointerCapture(event.pointerId);
    this.render();
  }

  pointerMove(event) {
    if (!this.drag) return;
    event.preventDefault();
    const p = this.toImage(event);
    const box = this.boxes[this.drag.index];
    if (this.drag.mode === "move") {
      const w = box.x2 - box.x1;
      const h = box.y2 - box.y1;
      box.x1 = clamp(p.x - this.drag.dx, 0, this.width - w);
      box.y1 = clamp(p.y - this.drag.dy, 0, this.height - h);
      box.x2 = box.x1 + w;
      box.y2 = box.y1 + h;
    } else {
      box.x1 = Math.min(this.drag.fixedX, p.x);
      box.x2 = Math.max(this.drag.fixedX, p.x);
      box.y1 = Math.min(this.drag.fixedY, p.y);
      box.y2 = Math.max(this.drag.fixedY, p.y);
    }
    box.suggested = false;
    this.render();
  }

  pointerUp(event) {
    if (!this.drag) return;
    const { index, mode } = this.drag;
    this.drag = null;
    if (this.svg.hasPointerCapture(event.pointerId)) this.svg.releasePointerCapture(event.pointerId);
    const box = this.boxes[index];
    const tooSmall = Math.min(box.x2 - box.x1, box.y2 - box.y1) < this.cssToImage(MIN_BOX_CSS_PX);
    if (mode === "draw" && tooSmall) {
      this.boxes.splice(index, 1); // a click, not a drag: deselect
      this.selected = -1;
      this.notice = null;
      this.render();
      this.onChange({ selectionOnly: true });
      return;
    }
    this.enforceMinimum(index);
    this.changed();
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
    const handle = this.cssToImage(HANDLE_CSS_PX);
    this.boxes.forEach((box, index) => {
      const group = element("g", { class: `box${index === this.selected ? " selected" : ""}${box.suggested ? " suggested" : ""}` });
      group.append(
        element("rect", { class: "box-body", "data-index": index, x: box.x1, y: box.y1, width: box.x2 - box.x1, height: box.y2 - box.y1 }),
        element("text", { class: "box-label", x: box.x1 + handle * 0.3, y: box.y1 + handle * 1.1, "font-size": handle }, String(index + 1)),
      );
      if (this.notice && this.notice.index === index) {
        const below = box.y2 + handle * 1.2 <= this.height;
        group.append(
          element("text", {
            class: "box-notice", role: "status", x: Math.min(box.x1, this.width * 0.6),
            y: below ? box.y2 + handle * 1.1 : Math.max(handle, box.y1 - handle * 0.3), "font-size": handle * 0.9,
          }, this.notice.text),
        );
      }
      if (index === this.selected) {
        for (const corner of CORNERS) {
          const cx = corner.includes("w") ? box.x1 : box.x2;
          const cy = corner.includes("n") ? box.y1 : box.y2;
          group.append(
            element("rect", {
              class: `handle ${corner}`,
              "data-index": index,
              "data-corner": corner,
              x: cx - handle / 2,
              y: cy - handle / 2,
              width: handle,
              height: handle,
            }),
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

// The same rule as emotic/boxes.py's min_box_side: a share of the shorter side, rounded up, with a floor,
// never more than the shorter side.
export function minBoxSide(width, height, fraction, floor) {
  const shorter = Math.min(width, height);
  return Math.min(shorter, Math.max(floor, Math.ceil(Number((fraction * shorter).toFixed(6)))));
}

function clamp(value, low, high) {
  return Math.min(Math.max(value, low), high);
}
