// The emotions form: 26 categories with a type-to-find filter, three sliders
// without a default value, gender and age.

const DIMENSIONS = ["valence", "arousal", "dominance"];

export class EmotionForm {
  constructor(form, { onChange } = {}) {
    this.form = form;
    this.onChange = onChange || (() => {});
    this.filter = form.querySelector("#category-filter");
    this.items = [...form.querySelectorAll(".category")];
    this.sliders = Object.fromEntries(DIMENSIONS.map((d) => [d, form.querySelector(`#${d}`)]));
    this.current = 0; // the slider that digit keys set
    this.highlighted = -1;

    this.filter.addEventListener("input", () => this.applyFilter());
    this.filter.addEventListener("keydown", (event) => this.filterKey(event));
    form.addEventListener("change", () => this.onChange());
    DIMENSIONS.forEach((dimension, index) => {
      const slider = this.sliders[dimension];
      const mark = () => this.markSet(dimension);
      slider.addEventListener("input", mark);
      // Clicking or pressing a key on the thumb's starting spot changes nothing, yet is a choice.
      slider.addEventListener("pointerup", mark);
      slider.addEventListener("keyup", (event) => {
        if (event.key.startsWith("Arrow") || ["Home", "End", "PageUp", "PageDown"].includes(event.key)) mark();
      });
      slider.addEventListener("focus", () => this.setCurrent(index));
    });
    this.setCurrent(0);
  }

  reset() {
    this.form.reset();
    for (const dimension of DIMENSIONS) this.unset(dimension);
    this.filter.value = "";
    this.applyFilter();
    this.setCurrent(0);
  }

  // --- categories -------------------------------------------------------------
  matches(query) {
    const q = query.trim().toLowerCase();
    if (!q) return this.items.map((item, index) => ({ index, rank: 0 }));
    const ranked = [];
    this.items.forEach((item, index) => {
      const name = item.dataset.name.toLowerCase();
      const definition = item.dataset.definition.toLowerCase();
      const rank = name.startsWith(q) ? 0 : name.includes(q) ? 1 : definition.includes(q) ? 2 : -1;
      if (rank >= 0) ranked.push({ index, rank });
    });
    return ranked.sort((a, b) => a.rank - b.rank || a.index - b.index);
  }

  applyFilter() {
    const found = this.matches(this.filter.value);
    const visible = new Set(found.map((m) => m.index));
    this.items.forEach((item, index) => {
      item.hidden = !visible.has(index);
    });
    this.order = found.map((m) => m.index);
    this.highlight(this.filter.value.trim() && this.order.length ? this.order[0] : -1);
  }

  highlight(index) {
    this.items.forEach((item) => item.classList.remove("highlighted"));
    this.highlighted = index;
    if (index >= 0) {
      this.items[index].classList.add("highlighted");
      this.filter.setAttribute("aria-activedescendant", this.items[index].querySelector("input").id);
    } else {
      this.filter.removeAttribute("aria-activedescendant");
    }
  }

  filterKey(event) {
    if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      event.preventDefault();
      if (!this.order.length) return;
      const at = Math.max(0, this.order.indexOf(this.highlighted));
      const step = event.key === "ArrowDown" ? 1 : -1;
      this.highlight(this.order[(at + step + this.order.length) % this.order.length]);
    } else if (event.key === "Enter" && !event.ctrlKey && !event.metaKey) {
      event.preventDefault();
      if (this.highlighted < 0) return;
      const box = this.items[this.highlighted].querySelector("input");
      box.checked = !box.checked;
      this.filter.value = "";
      this.applyFilter();
      this.onChange();
    } else if (event.key === "Escape") {
      event.preventDefault();
      this.filter.value = "";
      this.applyFilter();
      this.filter.blur();
    }
  }

  focusFilter() {
    this.filter.focus();
    this.filter.select();
  }

  // --- sliders -------------------------------------------------------------------
  setCurrent(index) {
    this.current = index;
    DIMENSIONS.forEach((dimension, i) => {
      this.sliders[dimension].closest(".slider").classList.toggle("current", i === index);
    });
  }

  unset(dimension) {
    const slider = this.sliders[dimension];
    slider.classList.add("unset");
    slider.dataset.set = "";
    slider.setAttribute("aria-valuetext", "not set");
    this.form.querySelector(`#${dimension}-value`).textContent = "not set";
  }

  markSet(dimension) {
    const slider = this.sliders[dimension];
    slider.classList.remove("unset");
    slider.dataset.set = "yes";
    slider.setAttribute("aria-valuetext", slider.value);
    this.form.querySelector(`#${dimension}-value`).textContent = slider.value;
    slider.closest(".slider").classList.remove("invalid");
    this.onChange();
  }

  setValue(dimension, value) {
    this.sliders[dimension].value = String(value);
    this.markSet(dimension);
  }

  // A digit key: set the current slider, then move on to the next one.
  typeDigit(value) {
    this.setValue(DIMENSIONS[this.current], value);
    this.setCurrent((this.current + 1) % DIMENSIONS.length);
  }

  valueOf(dimension) {
    const slider = this.sliders[dimension];
    return slider.dataset.set ? Number(slider.value) : null;
  }

  // --- gender, age -----------------------------------------------------------------
  choose(name, value) {
    const radio = this.form.querySelector(`input[name="${name}"][value="${value}"]`);
    if (radio) {
      radio.checked = true;
      this.onChange();
    }
  }

  // --- the answer ------------------------------------------------------------------
  answer() {
    const checked = (name) => this.form.querySelector(`input[name="${name}"]:checked`);
    return {
      categories: [...this.form.querySelectorAll('input[name="categories"]:checked')].map((box) => box.value),
      valence: this.valueOf("valence"),
      arousal: this.valueOf("arousal"),
      dominance: this.valueOf("dominance"),
      gender: checked("gender")?.value ?? null,
      age: checked("age")?.value ?? null,
    };
  }

  // What is still missing, in the order of the form: [{field, message, element}].
  missing() {
    const answer = this.answer();
    const problems = [];
    if (!answer.categories.length) {
      problems.push({ field: "categories", message: "Tick at least one category.", element: this.items[0].querySelector("input") });
    }
    for (const dimension of DIMENSIONS) {
      if (answer[dimension] === null) {
        this.sliders[dimension].closest(".slider").classList.add("invalid");
        problems.push({ field: dimension, message: `Set ${dimension} (1 to 10).`, element: this.sliders[dimension] });
      }
    }
    if (!answer.gender) problems.push({ field: "gender", message: "Choose a gender.", element: this.form.querySelector('input[name="gender"]') });
    if (!answer.age) problems.push({ field: "age", message: "Choose an age group.", element: this.form.querySelector('input[name="age"]') });
    return problems;
  }

  restore(answer) {
    this.reset();
    for (const name of answer.categories || []) {
      const box = this.form.querySelector(`input[name="categories"][value="${CSS.escape(name)}"]`);
      if (box) box.checked = true;
    }
    for (const dimension of DIMENSIONS) {
      if (answer[dimension] !== null && answer[dimension] !== undefined) this.setValue(dimension, answer[dimension]);
    }
    if (answer.gender) this.choose("gender", answer.gender);
    if (answer.age) this.choose("age", answer.age);
  }
}
