// Switchyard web chat: add <script src="https://YOUR-SERVER/chat/TENANT/embed.js" async></script>
// to a page. It adds a button that opens the tenant's chat in a frame.
(function () {
  var config = /*CONFIG*/{};
  if (window.__switchyardChat) return;
  window.__switchyardChat = true;
  // The chat lives where this script came from.
  var script = document.currentScript;
  var origin = script && script.src ? new URL(script.src).origin : "";
  function start() {
    var button = document.createElement("button");
    button.type = "button";
    button.textContent = config.label;
    button.setAttribute("aria-expanded", "false");
    button.style.cssText =
      "position:fixed;right:20px;bottom:20px;z-index:2147483000;padding:12px 18px;border:0;border-radius:24px;" +
      "background:#0b5cad;color:#fff;font:600 15px system-ui,sans-serif;cursor:pointer;box-shadow:0 2px 8px rgba(0,0,0,.3)";
    var frame = null;
    button.addEventListener("click", function () {
      if (!frame) {
        frame = document.createElement("iframe");
        frame.src = origin + config.path;
        frame.title = config.title;
        frame.style.cssText =
          "position:fixed;right:20px;bottom:76px;z-index:2147483000;width:min(380px,calc(100vw - 40px));" +
          "height:min(600px,calc(100vh - 100px));border:1px solid #c4c9d0;border-radius:12px;background:#fff;" +
          "box-shadow:0 4px 24px rgba(0,0,0,.25)";
        document.body.appendChild(frame);
        button.setAttribute("aria-expanded", "true");
        button.textContent = config.close;
        return;
      }
      var open = frame.style.display !== "none";
      frame.style.display = open ? "none" : "block";
      button.setAttribute("aria-expanded", open ? "false" : "true");
      button.textContent = open ? config.label : config.close;
    });
    document.body.appendChild(button);
  }
  // An async script may run before the page's body exists.
  if (document.body) start();
  else document.addEventListener("DOMContentLoaded", start);
})();
