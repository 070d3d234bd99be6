// paper-rag web app: citation chips, copy as Markdown, "ask only this paper", accessible labels.
// Delegated listeners on the document: the chat re-renders its messages, the handlers stay.
(function () {
  function setValue(selector, value) {
    const el = document.querySelector(selector);
    if (!el) return false;
    const proto = el.tagName === "TEXTAREA" ? HTMLTextAreaElement.prototype : HTMLInputElement.prototype;
    Object.getOwnPropertyDescriptor(proto, "value").set.call(el, value);
    el.dispatchEvent(new Event("input", { bubbles: true }));
    return true;
  }
  // Gradio's sanitizer drops data-* and aria-* attributes: an answer carries its question and
  // its plain-text label in hidden spans, and buttons carry their argument in `value`.
  function questionOf(el) {
    const q = el.closest(".answer") && el.closest(".answer").querySelector(".question-src");
    return q ? q.textContent : "";
  }
  function send() { const b = document.querySelector("#send"); if (b && !b.disabled) b.click(); }
  document.addEventListener("click", function (ev) {
    const chip = ev.target.closest(".chip");
    if (chip) {  // scroll to the source without touching the URL
      ev.preventDefault();
      const target = document.getElementById(chip.value);
      if (target) {
        target.scrollIntoView({ behavior: "smooth", block: "center" });
        target.classList.add("flash");
        setTimeout(() => target.classList.remove("flash"), 1400);
        const det = target.querySelector("details"); if (det) det.open = true;
      }
      return;
    }
    const copy = ev.target.closest(".copy-md");
    if (copy) {
      const md = copy.value || "";
      window.__lastCopied = md;
      if (navigator.clipboard && window.isSecureContext) navigator.clipboard.writeText(md).catch(() => {});
      else {
        const ta = document.createElement("textarea"); ta.value = md; document.body.appendChild(ta);
        ta.select(); try { document.execCommand("copy"); } catch (e) {} ta.remove();
      }
      copy.textContent = "Copied";
      setTimeout(() => (copy.textContent = "Copy as Markdown"), 1500);
      return;
    }
    const paper = ev.target.closest(".ask-paper");
    if (paper) {  // the same question, restricted to that paper
      setValue("#f-paper input, #f-paper textarea", paper.value);
      setValue("#question textarea", questionOf(paper));
      setTimeout(send, 150);
      return;
    }
    const typed = ev.target.closest(".as-typed");
    if (typed) {  // search the question as typed: no follow-up rewrite
      const box = document.querySelector("#as-typed input[type=checkbox]");
      if (box && !box.checked) box.click();
      setValue("#question textarea", questionOf(typed));
      setTimeout(send, 150);
    }
  });
  // Enter in the question box while an answer is pending does nothing: the text stays for later.
  function holdEnter(ev) {
    if (ev.key !== "Enter" || ev.shiftKey || !ev.target.closest("#question")) return;
    const b = document.querySelector("#send");
    if (b && b.disabled) { ev.preventDefault(); ev.stopImmediatePropagation(); }
  }
  document.addEventListener("keydown", holdEnter, true);
  document.addEventListener("keypress", holdEnter, true);
  // Each answer's accessible label is its text, not its HTML.
  const observer = new MutationObserver(function () {
    document.querySelectorAll("#chat .answer > .label-src").forEach(function (src) {
      const msg = src.closest("[aria-label]"), label = "Answer: " + src.textContent;
      if (msg && msg.getAttribute("aria-label") !== label) msg.setAttribute("aria-label", label);
    });
  });
  function start() {
    const chat = document.querySelector("#chat");
    if (!chat) return setTimeout(start, 300);
    observer.observe(chat, { childList: true, subtree: true });
  }
  start();
})();
