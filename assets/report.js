// Lägesbild's reporting script, loaded for users who file signals. The form works
// without it (it posts and the service answers with a receipt page); with it, a signal
// is filed into a queue kept on the phone (IndexedDB, one database per user) and sent
// from there — at once when online, otherwise when the connection returns, also after
// the page was closed or the session expired.
//
// Exactly once: a signal gets its Idempotency-Key when it is filed, and every attempt
// to send it carries that key, so when an answer is lost and the signal is sent again
// the service answers with the first receipt instead of storing it twice. Signals are
// sent one at a time, in the order filed, under a lock shared by every tab.
//
// On a shared phone the queue, the remembered choices and the kept pages belong to the
// user who signed in, and are deleted when they sign out (after a warning when signals
// are still waiting).
(function () {
  "use strict";
  var user = document.body.getAttribute("data-user");
  if (!user || !window.indexedDB) return;

  var english = document.documentElement.lang === "en";
  var T = english
    ? {
        waiting: "Waiting for a connection",
        sending: "Sending…",
        refused: "Refused",
        discard: "Discard",
        received: "The signal is received.",
        mine: "My signals",
        kept: "No network: the signal is kept on this phone and sent when the connection returns.",
        signIn: "Your session has ended. Sign in again to send the waiting signals.",
        signInLink: "Sign in",
        otherUser: "Another user is signed in: these signals are sent when the one who filed them signs in again.",
        chooseOne: "choose one",
        fixFields: "Choose the missing answers.",
        filed: "Filed",
        unsentTitle: "Signals not sent",
        unsent: function (n) {
          return n === 1
            ? "1 signal on this phone has not been sent. If you sign out now it is deleted and never counted."
            : n + " signals on this phone have not been sent. If you sign out now they are deleted and never counted.";
        },
        signOutAnyway: function (n) {
          return n === 1 ? "Sign out and delete it" : "Sign out and delete them";
        },
        stay: "Stay signed in",
        thisWeek: "This week",
        lastWeek: "Last week",
        week: "Week",
        weekShort: "w.",
      }
    : {
        waiting: "Väntar på anslutning",
        sending: "Skickar…",
        refused: "Avvisad",
        discard: "Släng",
        received: "Signalen är mottagen.",
        mine: "Mina signaler",
        kept: "Inget nätverk: signalen är sparad på telefonen och skickas när anslutningen är tillbaka.",
        signIn: "Din inloggning har gått ut. Logga in igen för att skicka de väntande signalerna.",
        signInLink: "Logga in",
        otherUser: "En annan användare är inloggad: de här signalerna skickas när den som rapporterade dem loggar in igen.",
        chooseOne: "välj ett alternativ",
        fixFields: "Välj det som saknas.",
        filed: "Rapporterad",
        unsentTitle: "Signaler som inte har skickats",
        unsent: function (n) {
          return n === 1
            ? "1 signal på den här telefonen har inte skickats. Loggar du ut nu raderas den och räknas aldrig."
            : n + " signaler på den här telefonen har inte skickats. Loggar du ut nu raderas de och räknas aldrig.";
        },
        signOutAnyway: function (n) {
          return n === 1 ? "Logga ut och radera den" : "Logga ut och radera dem";
        },
        stay: "Stanna kvar",
        thisWeek: "Denna vecka",
        lastWeek: "Förra veckan",
        week: "Vecka",
        weekShort: "v.",
      };

  var FIELDS = ["area", "age_band", "category", "arena", "gender", "observed_week"];
  var REQUIRED = ["area", "age_band", "category", "arena", "observed_week"];
  var DB_NAME = "lagesbild-" + user;
  var LAST = "lagesbild-last-" + user;
  var form = document.getElementById("signal-form");
  var queueBox = document.getElementById("queue");
  var receiptBox = document.getElementById("receipt");
  var connection = document.getElementById("connection");

  // ---- the queue (IndexedDB) ------------------------------------------------------
  var dbPromise = null;
  function db() {
    if (!dbPromise) {
      dbPromise = new Promise(function (resolve, reject) {
        var open = indexedDB.open(DB_NAME, 1);
        open.onupgradeneeded = function () {
          open.result.createObjectStore("queue", { keyPath: "seq", autoIncrement: true });
        };
        open.onsuccess = function () {
          var handle = open.result;
          // Another tab deleting the database (sign-out) must not wait for this one.
          handle.onversionchange = function () {
            handle.close();
            dbPromise = null;
          };
          resolve(handle);
        };
        open.onerror = function () {
          reject(open.error);
        };
      });
    }
    return dbPromise;
  }

  function store(mode, work) {
    return db().then(function (handle) {
      return new Promise(function (resolve, reject) {
        var tx = handle.transaction("queue", mode);
        var result;
        var request = work(tx.objectStore("queue"));
        if (request) {
          request.onsuccess = function () {
            result = request.result;
          };
        }
        tx.oncomplete = function () {
          resolve(result);
        };
        tx.onerror = tx.onabort = function () {
          reject(tx.error);
        };
      });
    });
  }
  var queue = {
    all: function () {
      return store("readonly", function (s) {
        return s.getAll();
      });
    },
    add: function (item) {
      return store("readwrite", function (s) {
        return s.add(item);
      });
    },
    put: function (item) {
      return store("readwrite", function (s) {
        return s.put(item);
      });
    },
    remove: function (seq) {
      return store("readwrite", function (s) {
        return s.delete(seq);
      });
    },
  };

  function newKey() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    var bytes = crypto.getRandomValues(new Uint8Array(16));
    return Array.prototype.map
      .call(bytes, function (b) {
        return (b + 256).toString(16).slice(1);
      })
      .join("");
  }

  // ---- showing it -------------------------------------------------------------------
  function element(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text) node.textContent = text;
    return node;
  }

  var problemNote = null;
  // One drawing at a time, each from the queue as it is when it starts: two drawings
  // racing could otherwise finish in the wrong order and show an old queue.
  var drawn = Promise.resolve();
  function render() {
    drawn = drawn.then(draw, draw);
    return drawn;
  }
  function draw() {
    if (!queueBox) return Promise.resolve();
    return queue.all().then(function (items) {
      var list = queueBox.querySelector("ul");
      list.textContent = "";
      items.forEach(function (item) {
        var li = element("li", item.state === "refused" ? "refused" : "waiting");
        li.setAttribute("data-key", item.key);
        li.appendChild(element("p", "", item.summary));
        var state = item.state === "refused" ? T.refused + ": " + item.reason : T.waiting;
        li.appendChild(element("p", "state", state));
        li.appendChild(element("p", "meta", T.filed + " " + new Date(item.filed_at).toLocaleString(english ? "en-GB" : "sv-SE")));
        if (item.state === "refused") {
          var discard = element("button", "secondary", T.discard);
          discard.type = "button";
          discard.setAttribute("aria-label", T.discard + ": " + item.summary);
          discard.addEventListener("click", function () {
            queue.remove(item.seq).then(render);
          });
          li.appendChild(discard);
        }
        list.appendChild(li);
      });
      if (problemNote) list.parentNode.appendChild(problemNote);
      queueBox.hidden = items.length === 0;
      queueBox.setAttribute("data-count", String(items.length));
    });
  }

  function say(node) {
    if (!receiptBox) return;
    receiptBox.textContent = "";
    receiptBox.appendChild(node);
    // The send button is at the bottom of a long form: bring the answer into view.
    receiptBox.scrollIntoView({ block: "nearest" });
  }

  function showProblem(text, link) {
    if (problemNote) problemNote.remove();
    problemNote = null;
    if (!text || !queueBox) return;
    problemNote = element("p", "problem", text + " ");
    problemNote.id = "queue-problem";
    if (link) {
      var a = element("a", "", T.signInLink);
      a.href = "/login?next=" + encodeURIComponent(location.pathname);
      problemNote.appendChild(a);
    }
    queueBox.appendChild(problemNote);
  }

  function showConnection() {
    if (connection) connection.hidden = navigator.onLine;
  }

  // ---- sending ----------------------------------------------------------------------
  var retryTimer = null;
  var failures = 0;
  function retryLater() {
    clearTimeout(retryTimer);
    failures += 1;
    var delay = Math.min(60000, 2000 * Math.pow(2, failures - 1));
    retryTimer = setTimeout(flush, delay);
  }

  function body(item, csrf) {
    var params = new URLSearchParams();
    params.set("csrf", csrf);
    params.set("key", item.key);
    FIELDS.forEach(function (name) {
      params.set(name, item.fields[name] || "");
    });
    return params;
  }

  function post(item, csrf) {
    return fetch("/rapportera", {
      method: "POST",
      credentials: "same-origin",
      headers: { Accept: "application/json" },
      body: body(item, csrf),
    }).then(function (response) {
      return response
        .json()
        .catch(function () {
          return {};
        })
        .then(function (answer) {
          return { status: response.status, answer: answer };
        });
    });
  }

  function receipt(item) {
    var box = element("div", "receipt");
    var line = element("p");
    line.appendChild(element("strong", "", "✓ " + T.received));
    line.appendChild(document.createTextNode(" " + item.summary + " "));
    var link = element("a", "", T.mine);
    link.href = "/rapportera/mina";
    line.appendChild(link);
    box.appendChild(line);
    say(box);
  }

  // Sends what waits, in order; stops at the first signal that cannot be sent now.
  // Nothing waiting: nothing to ask the service.
  function sendAll() {
    return queue.all().then(function (items) {
      var waiting = items.some(function (i) {
        return i.state !== "refused";
      });
      return waiting ? sendWaiting() : true;
    });
  }

  function sendWaiting() {
    return fetch("/rapportera/session.json", { credentials: "same-origin", cache: "no-store" })
      .then(function (response) {
        if (response.status === 401) return { signIn: true };
        if (!response.ok) throw new Error("session " + response.status);
        return response.json();
      })
      .then(function (session) {
        if (session.signIn) {
          showProblem(T.signIn, true);
          return false;
        }
        if (session.user !== user) {
          showProblem(T.otherUser, false);
          return false;
        }
        showProblem(null);
        return queue.all().then(function (items) {
          var waiting = items.filter(function (i) {
            return i.state !== "refused";
          });
          var step = function (index, csrf) {
            if (index >= waiting.length) return true;
            var item = waiting[index];
            return post(item, csrf).then(function (sent) {
              if (sent.status === 200 || sent.status === 201) {
                return queue.remove(item.seq).then(function () {
                  receipt(item);
                  return render().then(function () {
                    return step(index + 1, csrf);
                  });
                });
              }
              if (sent.status === 401) {
                showProblem(T.signIn, true);
                return false;
              }
              var problem = sent.answer.problem;
              if (sent.status === 422 || sent.status === 409 || problem === "forbidden") {
                var fields = sent.answer.fields || {};
                var reasons = Object.keys(fields).map(function (f) {
                  return fields[f];
                });
                item.state = "refused";
                item.reason = reasons.length ? reasons.join("; ") : sent.answer.detail || String(sent.status);
                return queue.put(item).then(function () {
                  return render().then(function () {
                    return step(index + 1, csrf);
                  });
                });
              }
              // An old form value, a busy or unreachable service: try again later.
              return false;
            });
          };
          return step(0, session.csrf);
        });
      });
  }

  var running = null;
  function flush() {
    if (running) return running;
    var work = function () {
      return sendAll().then(
        function (done) {
          if (done) failures = 0;
          return done;
        },
        function () {
          return false;
        },
      );
    };
    running = (navigator.locks ? navigator.locks.request("lagesbild-send-" + user, work) : work())
      .then(function (done) {
        running = null;
        return queue.all().then(function (items) {
          var waiting = items.some(function (i) {
            return i.state !== "refused";
          });
          // Signals filed while this round ran go at once; after a failure, later.
          if (waiting) {
            if (done) setTimeout(flush, 0);
            else retryLater();
          }
          showConnection();
          return render();
        });
      })
      .catch(function () {
        running = null;
      });
    return running;
  }

  // ---- the form ---------------------------------------------------------------------
  function fieldValue(name) {
    var control = form.elements[name];
    return control ? control.value : "";
  }

  function labelOf(name) {
    var control = form.elements[name];
    if (!control) return "";
    if (control.tagName === "SELECT") {
      var option = control.options[control.selectedIndex];
      return option ? option.textContent.trim() : "";
    }
    var checked = form.querySelector('input[name="' + name + '"]:checked');
    var label = checked && checked.closest("label").querySelector(".choice-label");
    return label ? label.textContent.trim() : "";
  }

  function summaryOf(fields) {
    var parts = [T.weekShort + " " + fields.observed_week.split("W")[1]];
    ["area", "age_band", "category", "arena"].forEach(function (name) {
      parts.push(labelOf(name));
    });
    if (fields.gender) parts.push(labelOf("gender"));
    return parts.join(" · ");
  }

  function clearErrors() {
    form.querySelectorAll(".field-error[data-local]").forEach(function (n) {
      n.remove();
    });
  }

  function showMissing(missing) {
    missing.forEach(function (name) {
      var group = document.getElementById(name);
      var holder = group && group.tagName === "FIELDSET" ? group : group && group.parentNode;
      if (!holder) return;
      var note = element("p", "field-error", T.chooseOne);
      note.id = name + "-error";
      note.setAttribute("data-local", "");
      var legend = holder.querySelector("legend");
      if (legend) legend.after(note);
      else holder.appendChild(note);
      var described = holder.tagName === "FIELDSET" ? holder : group;
      described.setAttribute("aria-describedby", note.id);
    });
    var first = document.getElementById(missing[0]);
    var focusable = first && (first.tagName === "FIELDSET" ? first.querySelector("input") : first);
    if (focusable) focusable.focus();
  }

  function choose(fields) {
    FIELDS.forEach(function (name) {
      if (name === "observed_week" || !(name in fields)) return;
      var control = form.elements[name];
      if (!control) return;
      if (control.tagName === "SELECT") {
        control.value = fields[name];
      } else {
        var radio = form.querySelector('input[name="' + name + '"][value="' + CSS.escape(fields[name] || "") + '"]');
        if (radio) radio.checked = true;
      }
    });
  }

  function remembered() {
    try {
      return JSON.parse(localStorage.getItem(LAST) || "null");
    } catch (e) {
      return null;
    }
  }

  /** The week options from today's week, when the page was kept from an earlier week. */
  function isoWeek(date) {
    var thursday = new Date(Date.UTC(date.getFullYear(), date.getMonth(), date.getDate()));
    thursday.setUTCDate(thursday.getUTCDate() + 3 - ((thursday.getUTCDay() + 6) % 7));
    var year = thursday.getUTCFullYear();
    var jan4 = new Date(Date.UTC(year, 0, 4));
    var week = 1 + Math.round(((thursday - jan4) / 86400000 - 3 + ((jan4.getUTCDay() + 6) % 7)) / 7);
    return { week: week, code: year + "-W" + String(week).padStart(2, "0") };
  }
  function refreshWeeks() {
    var select = form.elements.observed_week;
    if (!select || !form.dataset.thisWeek) return;
    var now = new Date();
    if (isoWeek(now).code === form.dataset.thisWeek) return;
    var span = Number(form.dataset.window || 8);
    select.textContent = "";
    for (var back = 0; back <= span; back++) {
      var w = isoWeek(new Date(now.getTime() - back * 604800000));
      var label =
        back === 0
          ? T.thisWeek + " (" + T.weekShort + " " + w.week + ")"
          : back === 1
            ? T.lastWeek + " (" + T.weekShort + " " + w.week + ")"
            : T.week + " " + w.week;
      select.appendChild(new Option(label, w.code, back === 0, back === 0));
    }
  }

  if (form) {
    refreshWeeks();
    // A page kept from before the last signal: the district last used is still chosen.
    var lastUsed = remembered();
    if (lastUsed && form.elements.area && !form.elements.area.value) choose({ area: lastUsed.area });
    var again = document.getElementById("same-again");
    if (again) {
      again.addEventListener("click", function (event) {
        event.preventDefault();
        var last = remembered();
        if (last) choose(last);
        else choose(Object.fromEntries(new URLSearchParams(again.search)));
        form.querySelector("button.send").focus();
      });
    }
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      clearErrors();
      var fields = {};
      FIELDS.forEach(function (name) {
        fields[name] = fieldValue(name);
      });
      var missing = REQUIRED.filter(function (name) {
        return !fields[name];
      });
      if (missing.length) {
        showMissing(missing);
        return;
      }
      var item = {
        key: newKey(),
        fields: fields,
        summary: summaryOf(fields),
        filed_at: new Date().toISOString(),
        state: "waiting",
      };
      queue
        .add(item)
        .then(function () {
          localStorage.setItem(LAST, JSON.stringify(fields));
          if (again) {
            var text = again.querySelector(".choice-description");
            if (text) text.textContent = item.summary;
          }
          // Ready for the next one: the district and week stay, the rest is chosen anew.
          ["age_band", "category", "arena"].forEach(function (name) {
            form.querySelectorAll('input[name="' + name + '"]').forEach(function (r) {
              r.checked = false;
            });
          });
          var unknown = form.querySelector('input[name="gender"][value=""]');
          if (unknown) unknown.checked = true;
          if (!navigator.onLine) {
            var note = element("div", "receipt");
            note.appendChild(element("p", "", T.kept));
            say(note);
          }
          return render();
        })
        .then(flush);
    });
  }

  // ---- signing out ------------------------------------------------------------------
  function forget() {
    localStorage.removeItem(LAST);
    var closing = dbPromise
      ? dbPromise.then(function (handle) {
          handle.close();
        })
      : Promise.resolve();
    dbPromise = null;
    return closing
      .then(function () {
        return new Promise(function (resolve) {
          var request = indexedDB.deleteDatabase(DB_NAME);
          request.onsuccess = request.onerror = request.onblocked = function () {
            resolve();
          };
        });
      })
      .then(function () {
        return window.caches
          ? caches.keys().then(function (keys) {
              return Promise.all(
                keys
                  .filter(function (k) {
                    return k.indexOf("lagesbild-") === 0;
                  })
                  .map(function (k) {
                    return caches.delete(k);
                  }),
              );
            })
          : null;
      });
  }

  function confirmSignOut(count) {
    return new Promise(function (resolve) {
      var dialog = element("dialog");
      dialog.id = "unsent-dialog";
      dialog.setAttribute("aria-labelledby", "unsent-title");
      dialog.setAttribute("aria-describedby", "unsent-text");
      var title = element("h2", "", T.unsentTitle);
      title.id = "unsent-title";
      var text = element("p", "", T.unsent(count));
      text.id = "unsent-text";
      var actions = element("form", "actions");
      actions.method = "dialog";
      var stay = element("button", "", T.stay);
      stay.value = "stay";
      var leave = element("button", "danger", T.signOutAnyway(count));
      leave.value = "leave";
      actions.appendChild(stay);
      actions.appendChild(leave);
      dialog.appendChild(title);
      dialog.appendChild(text);
      dialog.appendChild(actions);
      dialog.addEventListener("close", function () {
        dialog.remove();
        resolve(dialog.returnValue === "leave");
      });
      document.body.appendChild(dialog);
      dialog.showModal();
      stay.focus();
    });
  }

  document.querySelectorAll('form[action="/logout"]').forEach(function (signOut) {
    signOut.addEventListener("submit", function (event) {
      if (signOut.dataset.cleared) return;
      event.preventDefault();
      queue
        .all()
        .catch(function () {
          return [];
        })
        .then(function (items) {
          return items.length ? confirmSignOut(items.length) : true;
        })
        .then(function (leave) {
          if (!leave) return;
          return forget().then(function () {
            signOut.dataset.cleared = "1";
            signOut.submit();
          });
        });
    });
  });

  // ---- when to send -----------------------------------------------------------------
  if ("serviceWorker" in navigator) {
    navigator.serviceWorker
      .register("/sw.js", { scope: "/rapportera" })
      .then(function () {
        return navigator.serviceWorker.ready;
      })
      .then(function (registration) {
        if (registration.active) registration.active.postMessage("keep-pages");
      })
      .catch(function () {});
  }
  window.addEventListener("online", function () {
    failures = 0;
    showConnection();
    flush();
  });
  window.addEventListener("offline", showConnection);
  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState === "visible") flush();
  });
  showConnection();
  render().then(flush);
})();
