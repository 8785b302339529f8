// The review page's model choice: picking a trained model shows its predictions at once
// (the form is submitted on change; without JavaScript, its Show button does it).
// A static file, not an inline handler: the Content-Security-Policy runs no inline script.
document.addEventListener("DOMContentLoaded", () => {
  "use strict";
  const choice = document.getElementById("model-choice");
  if (choice && choice.form) choice.addEventListener("change", () => choice.form.submit());
});
