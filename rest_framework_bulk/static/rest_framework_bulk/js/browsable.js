/*
 * The bulk forms of the browsable API (rest_framework_bulk/api.html):
 * the raw-data tab shown by default, an example per media type, the CSV
 * upload form, and a job followed until it ends.
 */
(function () {
  "use strict";

  var FINISHED = ["SUCCESS", "FAILURE", "CANCELLED"];

  function replaceDocument(html, url) {
    // As DRF's own forms do with an answer in HTML.
    var doc = document.open("text/html");
    doc.write(html);
    doc.close();
    try {
      history.replaceState({}, "", url);
      window.scroll(0, 0);
    } catch (err) {
      window.location = url;
    }
  }

  // Raw data is what a bulk route takes: show that tab unless the user
  // chose DRF's HTML form tab (DRF keeps the choice in a cookie).
  function showRawTabs() {
    if (!document.querySelector("textarea[data-bulk-examples]")) return;
    if (!window.jQuery || !window.jQuery.fn.tab) return;
    if (/(^|;\s*)tabstyle=html-tab(;|$)/.test(document.cookie)) return;
    window.jQuery('.form-switcher a[name="raw-tab"]').tab("show");
  }

  // Choosing another media type swaps the example, unless it was edited.
  function bindExamples() {
    var textareas = document.querySelectorAll("textarea[data-bulk-examples]");
    Array.prototype.forEach.call(textareas, function (textarea) {
      var examples = JSON.parse(textarea.getAttribute("data-bulk-examples") || "{}");
      var select = textarea.form && textarea.form.querySelector('select[data-override="content-type"]');
      if (!select) return;
      select.addEventListener("change", function () {
        var value = textarea.value;
        var untouched = !value.trim() || Object.keys(examples).some(function (key) {
          return examples[key] === value;
        });
        if (untouched && examples[select.value] !== undefined) {
          textarea.value = examples[select.value];
        }
      });
    });
  }

  function bindUpload() {
    var form = document.getElementById("bulk-upload-form");
    if (!form) return;
    var error = form.querySelector('[data-bulk="error"]');

    function fail(text) {
      error.textContent = text;
      error.hidden = false;
    }

    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var button = event.submitter || document.activeElement;
      var method = (button && button.getAttribute("data-bulk-method")) || "POST";
      var action = new URL(form.getAttribute("action"), window.location.href);
      var url = new URL(action.toString());
      var file = form.elements.file.files[0];
      if (!file) {
        fail(form.getAttribute("data-no-file") || "Choose a file first.");
        return;
      }
      if (form.elements.dry_run && form.elements.dry_run.checked) {
        url.searchParams.set("dry_run", "1");
      }
      if (method === "POST" && form.elements.upsert && form.elements.upsert.value) {
        url.searchParams.set("upsert", form.elements.upsert.value);
      }
      var headers = { Accept: "text/html; q=1.0, */*" };
      var token = form.elements.csrfmiddlewaretoken;
      if (token) {
        headers[form.getAttribute("data-csrf-header") || "X-CSRFToken"] = token.value;
      }
      if (form.elements.lenient && form.elements.lenient.checked) {
        headers.Prefer = "handling=lenient";
      }
      var body = new FormData();
      body.append("file", file, file.name);
      Array.prototype.forEach.call(form.querySelectorAll("button"), function (each) {
        each.disabled = true;
      });
      fetch(url.toString(), {
        method: method,
        headers: headers,
        body: body,
        credentials: "same-origin"
      }).then(function (response) {
        return response.text().then(function (text) {
          var type = response.headers.get("Content-Type") || "";
          if (type.toLowerCase().indexOf("text/html") === 0) {
            replaceDocument(text, action.toString());
          } else {
            fail("HTTP " + response.status + "\n" + text);
          }
        });
      }).catch(function (err) {
        fail(String(err));
      }).then(function () {
        Array.prototype.forEach.call(form.querySelectorAll("button"), function (each) {
          each.disabled = false;
        });
      });
    });
  }

  function followJob() {
    var panel = document.getElementById("bulk-job");
    if (!panel || panel.getAttribute("data-finished") === "true") return;
    var url = panel.getAttribute("data-status-url");
    var failures = 0;

    function part(name) {
      return panel.querySelector('[data-job="' + name + '"]');
    }

    function withFormat(link, format) {
      return link + (link.indexOf("?") < 0 ? "?" : "&") + "format=" + format;
    }

    function showResults(results) {
      var list = part("result-list");
      list.textContent = "";
      Object.keys(results || {}).forEach(function (kind) {
        var item = document.createElement("li");
        item.setAttribute("data-kind", kind);
        item.appendChild(document.createTextNode(kind + " (" + results[kind].count + "): "));
        ["json", "csv"].forEach(function (format) {
          var link = document.createElement("a");
          link.href = withFormat(results[kind].url, format);
          link.textContent = format.toUpperCase();
          item.appendChild(link);
          item.appendChild(document.createTextNode(" "));
        });
        list.appendChild(item);
      });
      part("results").hidden = !list.children.length;
    }

    function update(job) {
      var progress = job.progress || {};
      part("state").textContent = job.state;
      part("status").textContent = job.status || "";
      part("processed").textContent = progress.current;
      part("total").textContent = progress.total === null ? "?" : progress.total;
      part("message").textContent = progress.message || "";
      part("bar").style.width = (progress.percentage || 0) + "%";
      if (FINISHED.indexOf(job.state) >= 0) {
        showResults(job.results);
        panel.setAttribute("data-finished", "true");
        return true;
      }
      return false;
    }

    function poll() {
      fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" })
        .then(function (response) {
          if (!response.ok) throw new Error("HTTP " + response.status);
          return response.json();
        })
        .then(function (job) {
          failures = 0;
          if (!update(job)) window.setTimeout(poll, 1000);
        })
        .catch(function () {
          failures += 1;
          if (failures < 10) window.setTimeout(poll, 3000);
        });
    }

    window.setTimeout(poll, 500);
  }

  function start() {
    bindExamples();
    bindUpload();
    followJob();
    if (window.jQuery) {
      // After DRF's default.js has chosen its tab.
      window.jQuery(showRawTabs);
    }
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
