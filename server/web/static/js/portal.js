// The demo host page: the session bar, and example questions that open the widget with the text filled in.
import { mountSessionBar } from "./session.js";

mountSessionBar(document.getElementById("session"), () => {});
for (const button of document.querySelectorAll("[data-question]")) {
  button.addEventListener("click", () => {
    if (window.JidokaWidget) window.JidokaWidget.open(button.dataset.question);
  });
}
