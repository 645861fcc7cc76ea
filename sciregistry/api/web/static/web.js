// Copy buttons: <button data-copy="ID"> copies the text of the element with that id.
document.addEventListener("click", function (ev) {
  var btn = ev.target.closest ? ev.target.closest("button[data-copy]") : null;
  if (!btn) return;
  var el = document.getElementById(btn.getAttribute("data-copy"));
  if (!el) return;
  var text = el.textContent.trim();
  var done = function () { var old = btn.textContent; btn.textContent = "Copied"; setTimeout(function () { btn.textContent = old; }, 1500); };
  if (navigator.clipboard && window.isSecureContext) {
    navigator.clipboard.writeText(text).then(done, function () { selectText(el); });
  } else { selectText(el); done(); }
});
function selectText(el) {
  var r = document.createRange(); r.selectNodeContents(el);
  var s = window.getSelection(); s.removeAllRanges(); s.addRange(r);
  try { document.execCommand("copy"); } catch (e) { /* the text stays selected for Ctrl+C */ }
}
