// The pages in a real browser (issue 14): what a coordinator does, checked against the
// API's own answers, with axe-core on every page. Run by tests/browser/run.sh, which
// starts the service and sets BASE_URL, COORDINATOR, REPORTER, PASSWORD, MIN_COUNT,
// CHROMIUM and OUT.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, readFileSync } from "node:fs";
import { execFileSync } from "node:child_process";
import http from "node:http";
import { chromium } from "playwright-core";
import AxeBuilder from "@axe-core/playwright";

const BASE = process.env.BASE_URL;
const PASSWORD = process.env.PASSWORD;
const COORDINATOR = process.env.COORDINATOR;
const REPORTER = process.env.REPORTER;
const ADMIN = process.env.ADMIN;
const K = Number(process.env.MIN_COUNT ?? 5);
const OUT = process.env.OUT ?? "tests/browser/out";

let browser;
before(async () => {
  mkdirSync(OUT, { recursive: true });
  browser = await chromium.launch({ executablePath: process.env.CHROMIUM, args: ["--no-sandbox"] });
});
after(async () => browser?.close());

async function signIn(page, username = COORDINATOR) {
  await page.goto(`${BASE}/login`);
  await page.fill("#username", username);
  await page.fill("#password", PASSWORD);
  await Promise.all([page.waitForNavigation(), page.click("main button[type=submit]")]);
}

async function signedIn(options = {}) {
  const context = await browser.newContext({ acceptDownloads: true, ...options });
  const page = await context.newPage();
  await signIn(page, options.username);
  return { context, page };
}

async function api(path) {
  const login = await fetch(`${BASE}/v1/auth/login`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ username: COORDINATOR, password: PASSWORD }),
  });
  const { access_token } = await login.json();
  const response = await fetch(`${BASE}${path}`, { headers: { authorization: `Bearer ${access_token}` } });
  assert.equal(response.status, 200, path);
  return path.includes("format=csv") ? response.text() : response.json();
}

/** `2026-W49` shifted by `weeks`, as the service counts ISO weeks. */
function plusWeeks(week, weeks) {
  const [year, w] = week.split("-W").map(Number);
  const jan4 = new Date(Date.UTC(year, 0, 4));
  const monday = new Date(jan4.getTime() - ((jan4.getUTCDay() + 6) % 7) * 86400000 + (w - 1 + weeks) * 7 * 86400000);
  const thursday = new Date(monday.getTime() + 3 * 86400000);
  const isoYear = thursday.getUTCFullYear();
  const firstThursday = new Date(Date.UTC(isoYear, 0, 4));
  const week1Monday = new Date(firstThursday.getTime() - ((firstThursday.getUTCDay() + 6) % 7) * 86400000);
  const number = Math.round((monday - week1Monday) / (7 * 86400000)) + 1;
  return `${isoYear}-W${String(number).padStart(2, "0")}`;
}

/** Every number a page shows in its tables and alarm lists, as text. */
async function shownCounts(page) {
  return page.$$eval("td.num, .alarms .count, #headline-total", (cells) => cells.map((c) => c.textContent.trim()));
}

function assertNoSmallCount(texts, where) {
  for (const text of texts) {
    const match = text.replace(/^(minst|at least)\s+/, "").match(/^(\d+)$/);
    if (match) {
      const n = Number(match[1]);
      assert.ok(n === 0 || n >= K, `${where} shows ${n}`);
    } else {
      assert.ok(text.startsWith(`<${K}`) || text.startsWith("–") || /^\d+ \(/.test(text), `${where}: ${text}`);
    }
  }
}

test("sign-in returns to the page asked for with a strict cookie; sign-out ends the session", async () => {
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.goto(`${BASE}/utforska?by=category`);
  assert.match(page.url(), /\/login\?next=%2Futforska%3Fby%3Dcategory$/);

  await page.fill("#username", COORDINATOR);
  await page.fill("#password", "wrong password");
  await Promise.all([page.waitForNavigation(), page.click("main button[type=submit]")]);
  assert.ok((await page.textContent("[role=alert]")).includes("Fel användarnamn eller lösenord."));
  assert.equal(await page.inputValue("#username"), COORDINATOR);

  await page.fill("#password", PASSWORD);
  await Promise.all([page.waitForNavigation(), page.click("main button[type=submit]")]);
  assert.equal(page.url(), `${BASE}/utforska?by=category`);
  const cookie = (await context.cookies()).find((c) => c.name === "lagesbild_session");
  assert.ok(cookie, "a session cookie");
  assert.equal(cookie.httpOnly, true);
  assert.equal(cookie.sameSite, "Strict");
  assert.equal(cookie.path, "/");

  await Promise.all([page.waitForNavigation(), page.click("text=Logga ut")]);
  assert.equal(new URL(page.url()).pathname, "/login");
  // The old token no longer works, even if a browser kept it.
  await context.addCookies([{ ...cookie }]);
  await page.goto(`${BASE}/`);
  assert.equal(new URL(page.url()).pathname, "/login");
  await context.close();
});

test("Översikt shows the same alarms as GET /v1/alerts, this week and last", async () => {
  const { context, page } = await signedIn();
  const thisWeek = await api("/v1/alerts");
  const lastWeek = await api(`/v1/alerts?week=${plusWeeks(thisWeek.week, -1)}`);
  await page.goto(`${BASE}/`);
  for (const [report, list] of [[thisWeek, "alarms"], [lastWeek, "last-week-alarms"]]) {
    const shown = await page.$$eval(`#${list} > li`, (items) =>
      items.map((li) => `${li.dataset.area}/${li.dataset.category}/${li.querySelector(".badge").textContent.trim()}`));
    const expected = report.alerts.map((a) => `${a.area}/${a.category}/${a.alarm === "alert" ? "▲ Larm" : "● Varning"}`);
    assert.deepEqual(shown.sort(), expected.sort(), `${list} (${report.week})`);
    if (expected.length === 0) assert.equal(await page.locator(`#${list}-none`).count(), 1);
  }
  await context.close();
});

test("Utforska's table equals the API's numbers, and its CSV download equals the table", async () => {
  const { context, page } = await signedIn();
  const { week } = await api("/v1/alerts");
  const from = plusWeeks(week, -12);
  const query = `area=umea&by=area&period=week&from=${from}&to=${week}`;
  await page.goto(`${BASE}/utforska?${query}`);
  const header = await page.$$eval("#explore-table thead th", (cells) => cells.map((c) => c.textContent.trim()));
  const rows = await page.$$eval("#explore-table tbody tr", (trs) =>
    trs.map((tr) => [tr.querySelector("th").textContent.trim(), ...[...tr.querySelectorAll("td")].map((td) => td.textContent.trim())]));
  const trends = await api(`/v1/trends?${query}&area_level=district`);
  const names = Object.fromEntries((await api("/v1/areas")).map((a) => [a.code, a.name]));
  assert.equal(rows.length, 13);
  assert.equal(header.length, trends.series.length + 1);
  const expectedText = (p) => (p.before_reporting_start ? "–" : p.count === null ? `<${K}` : String(p.count));
  const table = new Map();
  for (const series of trends.series) {
    const column = header.indexOf(names[series.key.area]);
    assert.ok(column > 0, `a column for ${series.key.area}`);
    series.points.forEach((point, i) => {
      assert.equal(rows[i][0], point.period);
      const text = rows[i][column];
      assert.ok(text.startsWith(expectedText(point)), `${series.key.area} ${point.period}: ${text} vs ${expectedText(point)}`);
      table.set(`${series.key.area}/${point.period}`, text);
    });
  }
  const [download] = await Promise.all([page.waitForEvent("download"), page.click("#download-csv")]);
  const csv = readFileSync(await download.path(), "utf8").trim().split("\n");
  assert.equal(csv[0].split(",").slice(0, 4).join(","), "area,period,count,suppressed");
  assert.equal(csv.length - 1, table.size);
  for (const line of csv.slice(1)) {
    const [area, period, count] = line.split(",");
    const shown = table.get(`${area}/${period}`);
    assert.ok(count === "" ? !/^\d/.test(shown) : shown === count, `${area} ${period}: csv ${count}, table ${shown}`);
  }
  // The view is in the URL: changing the form gives a link that restores it.
  await page.selectOption("#by", "category");
  await page.selectOption("#period", "month");
  await Promise.all([page.waitForNavigation(), page.click("form.filters button[type=submit]")]);
  const link = page.url();
  assert.match(link, /by=category/);
  assert.match(link, /period=month/);
  const before = await page.textContent("#explore-table");
  const again = await context.newPage();
  await again.goto(link);
  assert.equal(await again.textContent("#explore-table"), before);
  await context.close();
});

test("keyboard only: sign in, Översikt, Utforska, download the CSV", async () => {
  const context = await browser.newContext({ acceptDownloads: true });
  const page = await context.newPage();
  await page.goto(`${BASE}/login`);
  await page.keyboard.press("Tab");
  assert.equal(await page.evaluate(() => document.activeElement.textContent.trim()), "Hoppa till innehållet");
  await page.focus("#username");
  await page.keyboard.type(COORDINATOR);
  await page.keyboard.press("Tab");
  await page.keyboard.type(PASSWORD);
  await Promise.all([page.waitForNavigation(), page.keyboard.press("Enter")]);
  assert.equal(new URL(page.url()).pathname, "/");
  const tabTo = async (wanted) => {
    for (let i = 0; i < 60; i++) {
      await page.keyboard.press("Tab");
      if (await page.evaluate(wanted)) return;
    }
    assert.fail(`never reached by Tab: ${wanted}`);
  };
  await tabTo(() => document.activeElement.textContent.trim() === "Utforska");
  await Promise.all([page.waitForNavigation(), page.keyboard.press("Enter")]);
  assert.equal(new URL(page.url()).pathname, "/utforska");
  await tabTo(() => document.activeElement.id === "download-csv");
  const [download] = await Promise.all([page.waitForEvent("download"), page.keyboard.press("Enter")]);
  assert.ok(readFileSync(await download.path(), "utf8").startsWith("area,period,count"));
  await context.close();
});

test("a coordinator registers an intervention and sees its effect; the report prints to a PDF", async () => {
  const { context, page } = await signedIn();
  const { week } = await api("/v1/alerts");
  await page.goto(`${BASE}/insatser`);
  await page.fill("#name", "Fältgrupp Ersboda");
  // Umeå's recruitment signals: large enough that most weeks are published.
  await page.selectOption("#area", "umea");
  await page.selectOption("#level", "selective");
  for (const category of ["recruitment_approach", "digital_recruitment", "drug_handling", "older_contacts"]) {
    await page.check(`input[name=categories][value=${category}]`);
  }
  for (const band of ["13-15", "16-17"]) await page.check(`input[name=age_bands][value='${band}']`);
  await page.fill("#start_week", "nonsense");
  await Promise.all([page.waitForNavigation(), page.click("form[action='/insatser'] button[type=submit]")]);
  assert.ok(await page.isVisible("#start_week-error"), "the reason at the field");
  assert.equal(await page.inputValue("#name"), "Fältgrupp Ersboda", "the input is kept");
  await page.fill("#start_week", plusWeeks(week, -10));
  await Promise.all([page.waitForNavigation(), page.click("form[action='/insatser'] button[type=submit]")]);
  assert.match(page.url(), /\/insatser\/[0-9a-f-]{36}$/);
  assert.equal(await page.textContent("h1"), "Fältgrupp Ersboda");
  const insufficient = await page.locator("#insufficient").count() ? await page.textContent("#insufficient") : "";
  assert.equal(await page.locator("svg.effect polyline.counterfactual").count(), 1, `no counterfactual drawn: ${insufficient}`);
  const id = page.url().split("/").pop();
  const effect = await api(`/v1/interventions/${id}/effect`);
  const ratio = effect.level_change.rate_ratio.toFixed(2).replace(".", ",");
  assert.ok((await page.textContent("#changes")).includes(`× ${ratio}`));
  // Ended from its page: a week before the start is refused at the field, then a right one.
  await page.fill("#end_week", plusWeeks(week, -11));
  await Promise.all([page.waitForNavigation(), page.click("form[action$='/slut'] button[type=submit]")]);
  assert.ok((await page.textContent("#end_week-error")).includes("före startveckan"));
  await page.fill("#end_week", plusWeeks(week, -1));
  await Promise.all([page.waitForNavigation(), page.click("form[action$='/slut'] button[type=submit]")]);
  assert.ok((await page.textContent("#weeks")).endsWith(plusWeeks(week, -1)));
  await page.goto(`${BASE}/insatser`);
  assert.equal(await page.locator(`#interventions tr[data-id='${id}']`).count(), 1);

  await page.goto(`${BASE}/rapport`);
  assert.ok((await page.textContent("main")).includes("Fältgrupp Ersboda"));
  const pdf = await page.pdf({ path: `${OUT}/rapport.pdf`, format: "A4" });
  assert.equal(pdf.subarray(0, 5).toString(), "%PDF-");
  assert.ok(pdf.length > 20_000, `a PDF of ${pdf.length} bytes`);
  await context.close();
});

const PAGES = [
  ["login", "/login", false],
  ["oversikt", "/", true],
  ["oversikt-en", "/?lang=en", true],
  ["utforska", "/utforska", true],
  ["utforska-fel", "/utforska?from=2000-W01", true],
  ["insatser", "/insatser", true],
  ["rapport", "/rapport", true],
  ["tillganglighet", "/tillganglighet", false],
  ["ingen-behorighet", "/utforska?area=sollentuna", true],
];

test("every page: axe-core finds no WCAG 2.1 A/AA violation, no count below k, nothing from another origin", async () => {
  const { context, page } = await signedIn();
  const foreign = [];
  const errors = [];
  page.on("request", (request) => {
    if (!request.url().startsWith(BASE) && !request.url().startsWith("blob:")) foreign.push(request.url());
  });
  // A 403 or 422 page is logged as a failed load; anything else (a CSP violation) is not expected.
  page.on("console", (message) => {
    if (message.type() === "error" && !message.text().startsWith("Failed to load resource")) errors.push(message.text());
  });
  for (const [name, path] of PAGES) {
    const response = await page.goto(`${BASE}${path}`);
    if (name === "utforska-fel") {
      assert.equal(response.status(), 422);
      assert.ok((await page.textContent("#from-error")).includes("520"));
    }
    if (name === "ingen-behorighet") assert.equal(response.status(), 403);
    const result = await new AxeBuilder({ page }).withTags(["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]).analyze();
    assert.deepEqual(
      result.violations.map((v) => `${v.id}: ${v.nodes.map((n) => n.target).join(" ")}`),
      [],
      `axe on ${path}`,
    );
    assertNoSmallCount(await shownCounts(page), path);
  }
  assert.deepEqual(foreign, []);
  assert.deepEqual(errors, [], "console errors (a CSP violation shows here)");
  await context.close();
});

/** axe-core with the WCAG 2.1 A/AA tags on the page as it is now. */
async function assertAxeClean(page, where) {
  const result = await new AxeBuilder({ page }).withTags(["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]).analyze();
  assert.deepEqual(result.violations.map((v) => `${v.id}: ${v.nodes.map((n) => n.target).join(" ")}`), [], `axe on ${where}`);
}

test("an admin creates a service account, mints a token shown once that reads the API, and revokes it", async () => {
  const { context, page } = await signedIn({ username: ADMIN });
  assert.equal(new URL(page.url()).pathname, "/admin", "an admin lands on Administration");
  await assertAxeClean(page, "/admin");
  await page.screenshot({ path: `${OUT}/admin-desktop.png`, fullPage: true });
  const name = `bi-${Date.now()}`;
  await page.fill("#username", name);
  await page.selectOption("#kind", "service");
  await page.selectOption("#role", "analyst");
  await page.fill("#password", "a password a service account cannot have");
  await Promise.all([page.waitForNavigation(), page.click("form[action='/admin/anvandare'] button[type=submit]")]);
  assert.ok(await page.isVisible("#password-error"), "a service account has no password: said at the field");
  await assertAxeClean(page, "/admin with errors");
  await page.fill("#password", "");
  await Promise.all([page.waitForNavigation(), page.click("form[action='/admin/anvandare'] button[type=submit]")]);
  assert.match(page.url(), /\/admin\/anvandare\/[0-9a-f-]{36}$/);
  await page.fill("#name", "Power BI, kommunledningen");
  await page.check("input[name=permissions][value='trends:read']");
  await Promise.all([page.waitForNavigation(), page.click("form[action$='/nycklar'] button[type=submit]")]);
  const secret = (await page.textContent("#token-secret")).trim();
  assert.match(secret, /^lgb_/);
  await assertAxeClean(page, "the user page with a new token");
  await page.screenshot({ path: `${OUT}/admin-user-desktop.png`, fullPage: true });
  const read = await fetch(`${BASE}/v1/alerts`, { headers: { authorization: `Bearer ${secret}` } });
  assert.equal(read.status, 200);
  await page.reload();
  assert.equal(await page.locator("#token-secret").count(), 0, "the secret is shown once");
  await Promise.all([page.waitForNavigation(), page.click("#tokens button")]);
  assert.ok((await page.textContent("#tokens")).includes("återkallad"));
  const refused = await fetch(`${BASE}/v1/alerts`, { headers: { authorization: `Bearer ${secret}` } });
  assert.equal(refused.status, 401);
  await context.close();
});

test("security headers, CSRF refusal and a 403 page for a role without trends", async () => {
  const { context, page } = await signedIn();
  for (const path of ["/", "/login", "/utforska"]) {
    const response = await page.goto(`${BASE}${path}`);
    const csp = response.headers()["content-security-policy"];
    assert.match(csp, /default-src 'self'/);
    assert.match(csp, /frame-ancestors 'none'/);
    assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/);
  }
  const forged = await context.request.post(`${BASE}/logout`, { form: {}, maxRedirects: 0 });
  assert.equal(forged.status(), 403);
  await page.goto(`${BASE}/`);
  assert.equal(new URL(page.url()).pathname, "/", "still signed in after the refused post");
  await context.close();

  const reporter = await signedIn({ username: REPORTER });
  assert.equal(new URL(reporter.page.url()).pathname, "/rapportera", "a reporter lands on the form");
  const response = await reporter.page.goto(`${BASE}/utforska`);
  assert.equal(response.status(), 403);
  assert.equal((await reporter.page.textContent("h1")).trim(), "Ingen behörighet");
  await reporter.context.close();
});

test("screenshots of every page, on a desktop and at 390 px; weight and load time of Översikt", async () => {
  for (const [device, viewport] of [["desktop", { width: 1280, height: 900 }], ["phone", { width: 390, height: 844 }]]) {
    const { context, page } = await signedIn({ viewport });
    for (const [name, path] of PAGES) {
      await page.goto(`${BASE}${path}`);
      await page.screenshot({ path: `${OUT}/${name}-${device}.png`, fullPage: true });
      await page.screenshot({ path: `${OUT}/${name}-${device}-top.png` });
    }
    if (device === "desktop") {
      let bytes = 0;
      page.on("response", async (r) => { bytes += (await r.body().catch(() => Buffer.alloc(0))).length; });
      await page.goto(`${BASE}/`, { waitUntil: "load" });
      const loaded = await page.evaluate(() => performance.getEntriesByType("navigation")[0].loadEventEnd);
      console.log(`Översikt: ${Math.round(loaded)} ms from navigation to load, ${bytes} bytes (HTML, CSS, JS)`);
      assert.ok(bytes < 300_000, `Översikt weighs ${bytes} bytes`);
    }
    await context.close();
  }
});

// ---- Rapportera (issue 15): the phone form, offline, exactly once ------------------

const PHONE = { width: 360, height: 640 };

/** One value from the service's database (DATABASE_URL, set by run.sh). */
function sql(query) {
  return execFileSync("psql", ["-qtAX", process.env.DATABASE_URL, "-c", query], { encoding: "utf8" }).trim();
}

/** The live signals `username` has stored, as `age_band/category/arena` → count. */
function storedBy(username) {
  const rows = sql(
    `SELECT k || ' ' || n FROM (SELECT b.code || '/' || c.code || '/' || a.code AS k, count(*) AS n FROM signals s
       JOIN users u ON u.id = s.submitted_by JOIN age_bands b ON b.id = s.age_band_id
       JOIN categories c ON c.id = s.category_id JOIN arenas a ON a.id = s.arena_id
      WHERE u.username = '${username}' GROUP BY 1) t ORDER BY 1`,
  );
  return Object.fromEntries(rows.split("\n").filter(Boolean).map((r) => [r.split(" ")[0], Number(r.split(" ")[1])]));
}

/** A reporter of their own (school, Umeå), made through the API by the admin. */
async function newReporter(label) {
  const login = await fetch(`${BASE}/v1/auth/login`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ username: ADMIN, password: PASSWORD }),
  });
  const { access_token } = await login.json();
  const username = `br-${label}-${Date.now()}`;
  const created = await fetch(`${BASE}/v1/users`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${access_token}` },
    body: JSON.stringify({ username, role: "school", area: "umea", kind: "person", password: PASSWORD }),
  });
  assert.equal(created.status, 201);
  return username;
}

/** Waits until the service worker controls the form and keeps it for offline use. */
async function keptForOffline(page) {
  await page.evaluate(() => navigator.serviceWorker.ready);
  await page.waitForFunction(async () => Boolean(await caches.match("/rapportera")), null, { timeout: 15000 });
}

/** Waits (15 s at most) until `username` has stored `expected`, read from the database. */
async function eventuallyStored(username, expected) {
  let found;
  for (let i = 0; i < 150; i++) {
    found = storedBy(username);
    if (JSON.stringify(Object.values(found)) === JSON.stringify(expected)) return found;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  assert.fail(`stored by ${username}: ${JSON.stringify(found)}, expected counts ${JSON.stringify(expected)}`);
}

async function queued(page) {
  return Number((await page.getAttribute("#queue", "data-count")) ?? 0);
}

/** Files a signal with the mouse: district, age band, concern, where. */
async function file(page, [ageBand, category, arena], district = "teg") {
  await page.selectOption("#area", district);
  await page.check(`input[name=age_band][value="${ageBand}"]`);
  await page.check(`input[name=category][value="${category}"]`);
  await page.check(`input[name=arena][value="${arena}"]`);
  await page.click("button.send");
  // Filed: the form is cleared for the next signal (the district and week stay).
  await page.waitForFunction(() => !document.querySelector("input[name=age_band]:checked"));
}

test("Rapportera at 360 px: axe clean, 44 px targets, no sideways scroll, a signal in three taps, keyboard only", async () => {
  const name = await newReporter("form");
  const { context, page } = await signedIn({ username: name, viewport: PHONE, hasTouch: true, isMobile: true });
  assert.equal(new URL(page.url()).pathname, "/rapportera", "a reporter lands on the form");
  await assertAxeClean(page, "/rapportera");
  assert.ok(await page.evaluate(() => document.documentElement.scrollWidth <= 360), "no sideways scrolling at 360 px");
  const small = await page.$$eval(
    "header a:not(.skip), header button, main button, main select, main label.radio, main a.button, footer a",
    (elements) =>
      elements
        .map((e) => [e.getBoundingClientRect(), e.outerHTML.slice(0, 60)])
        .filter(([r]) => r.width > 0 && (r.width < 44 || r.height < 44))
        .map(([r, html]) => `${Math.round(r.width)}×${Math.round(r.height)} ${html}`),
  );
  assert.deepEqual(small, [], "touch targets under 44 × 44 px");
  const spilling = await page.$$eval("main label.radio", (labels) =>
    labels.filter((l) => l.scrollWidth > l.clientWidth).map((l) => l.textContent.trim()),
  );
  assert.deepEqual(spilling, [], "a choice whose text runs out of its box");
  assert.equal(await page.locator("main input[type=text], main textarea").count(), 0, "no text input");
  await page.screenshot({ path: `${OUT}/rapportera-phone.png` });
  // Installable: Chromium's own verdict on the manifest, icons and service worker.
  await keptForOffline(page);
  const cdp = await context.newCDPSession(page);
  const { installabilityErrors } = await cdp.send("Page.getInstallabilityErrors");
  // A test context is a private window, which Chromium never installs from; every other
  // criterion is still checked and reported (a page without a manifest adds `no-manifest`).
  const errors = installabilityErrors.map((e) => e.errorId).filter((id) => id !== "in-incognito");
  assert.deepEqual(errors, [], "Chromium can install the form");
  await page.goto(`${BASE}/rapportera?lang=en`);
  assert.equal(await page.textContent("h1"), "Report a signal");
  await assertAxeClean(page, "/rapportera in English");
  await page.goto(`${BASE}/rapportera?lang=sv`);

  // Keyboard only: district, age band, concern, where, then send.
  await page.focus("#area");
  await page.keyboard.press("ArrowDown");
  for (const step of ["Tab", "Space", "Tab", "ArrowDown", "Tab", "Space", "Tab", "Tab", "Tab", "Enter"]) {
    await page.keyboard.press(step);
  }
  await page.waitForSelector("#receipt .receipt");
  assert.match(await page.textContent("#receipt"), /Signalen är mottagen/);
  await page.screenshot({ path: `${OUT}/rapportera-kvitto-phone.png` });
  await eventuallyStored(name, [1]);

  // The same kind again, once the page has loaded: "same as last time", then send.
  await page.goto(`${BASE}/rapportera`);
  await page.tap("#same-again");
  await page.tap("button.send");
  await eventuallyStored(name, [2]);

  // Mina signaler: both, each retractable; one retracted is no longer counted.
  await page.goto(`${BASE}/rapportera/mina`);
  assert.equal(await page.locator("#own-signals li").count(), 2);
  await assertAxeClean(page, "/rapportera/mina");
  await page.screenshot({ path: `${OUT}/mina-signaler-phone.png` });
  await Promise.all([page.waitForNavigation(), page.click("#own-signals li:first-child button")]);
  assert.match(await page.textContent("main"), /Signalen är ångrad/);
  assert.deepEqual(Object.values(storedBy(name)), [1]);
  await context.close();
});

test("offline: three signals filed, the page reloaded, the network back — each stored exactly once", async () => {
  const name = await newReporter("offline");
  const { context, page } = await signedIn({ username: name, viewport: PHONE });
  await keptForOffline(page);
  await context.setOffline(true);
  const signals = [
    ["13-15", "digital_recruitment", "social_media"],
    ["16-17", "drug_handling", "public_place"],
    ["10-12", "school_disengagement", "school"],
  ];
  for (const signal of signals) await file(page, signal);
  await page.waitForFunction(() => document.querySelector("#queue").getAttribute("data-count") === "3", null, { timeout: 5000 });
  assert.match(await page.textContent("#queue"), /Väntar på anslutning/);
  assert.deepEqual(storedBy(name), {}, "nothing reached the service");

  // Closed and opened again without a network: the form and the queue are still there.
  await page.reload();
  await page.waitForFunction(() => document.querySelector("#queue").getAttribute("data-count") === "3");
  assert.ok(await page.isVisible("#connection"), "the page says it is offline");
  assert.equal(await page.inputValue("#area"), "teg", "the district last used is chosen again");
  await assertAxeClean(page, "/rapportera offline, three waiting");
  await page.evaluate(() => window.scrollTo(0, 0));
  await page.screenshot({ path: `${OUT}/rapportera-offline-phone.png` });

  await context.setOffline(false);
  await page.waitForFunction(() => document.querySelector("#queue").getAttribute("data-count") === "0", null, { timeout: 30000 });
  assert.deepEqual(storedBy(name), {
    "10-12/school_disengagement/school": 1,
    "13-15/digital_recruitment/social_media": 1,
    "16-17/drug_handling/public_place": 1,
  });
  await context.close();
});

/** A proxy in front of the service that can lose the answer to the next signal post: the
 * request reaches the service, and the connection is cut before the answer is back. */
async function lossyProxy() {
  const target = new URL(BASE);
  const state = { dropNext: false, posts: 0, dropped: 0 };
  const server = http.createServer((req, res) => {
    const upstream = http.request(
      { host: target.hostname, port: target.port, path: req.url, method: req.method, headers: req.headers },
      (answer) => {
        const chunks = [];
        answer.on("data", (c) => chunks.push(c));
        answer.on("end", () => {
          if (req.method === "POST" && req.url === "/rapportera") {
            state.posts += 1;
            if (state.dropNext) {
              state.dropNext = false;
              state.dropped += 1;
              req.socket.destroy();
              return;
            }
          }
          res.writeHead(answer.statusCode, answer.headers);
          res.end(Buffer.concat(chunks));
        });
      },
    );
    upstream.on("error", () => res.destroy());
    req.pipe(upstream);
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  server.unref(); // a failed test must not keep the test process alive
  state.url = `http://127.0.0.1:${server.address().port}`;
  state.close = () => new Promise((resolve) => { server.closeAllConnections(); server.close(resolve); });
  return state;
}

test("a send whose answer is lost is sent again with its key and stored once", async () => {
  const name = await newReporter("lost");
  const proxy = await lossyProxy();
  const context = await browser.newContext({ viewport: PHONE });
  const page = await context.newPage();
  await page.goto(`${proxy.url}/login`);
  await page.fill("#username", name);
  await page.fill("#password", PASSWORD);
  await Promise.all([page.waitForNavigation(), page.click("main button[type=submit]")]);
  assert.equal(new URL(page.url()).pathname, "/rapportera");
  proxy.dropNext = true;
  await file(page, ["13-15", "debt_threats", "youth_centre"]);
  await page.waitForFunction(() => document.querySelector("#queue").getAttribute("data-count") === "0", null, { timeout: 30000 });
  assert.equal(proxy.dropped, 1, "one answer was lost");
  assert.ok(proxy.posts >= 2, `sent again after the lost answer (${proxy.posts} posts)`);
  assert.deepEqual(storedBy(name), { "13-15/debt_threats/youth_centre": 1 });
  await context.close();
  await proxy.close();
});

test("an expired session keeps the queue; after signing in again it is sent", async () => {
  const name = await newReporter("expired");
  const { context, page } = await signedIn({ username: name, viewport: PHONE });
  await keptForOffline(page);
  await context.setOffline(true);
  await file(page, ["16-17", "weapons", "public_place"]);
  await context.clearCookies();
  await context.setOffline(false);
  await page.waitForSelector("#queue-problem");
  assert.match(await page.textContent("#queue-problem"), /Logga in igen/);
  assert.equal(await queued(page), 1);
  assert.deepEqual(storedBy(name), {});
  await Promise.all([page.waitForNavigation(), page.click("#queue-problem a")]);
  await page.fill("#username", name);
  await page.fill("#password", PASSWORD);
  await Promise.all([page.waitForNavigation(), page.click("main button[type=submit]")]);
  assert.equal(new URL(page.url()).pathname, "/rapportera");
  await page.waitForFunction(() => document.querySelector("#queue").getAttribute("data-count") === "0", null, { timeout: 30000 });
  assert.deepEqual(storedBy(name), { "16-17/weapons/public_place": 1 });
  await context.close();
});

test("a refused signal shows its reason and can be discarded; signing out warns, then clears the phone", async () => {
  const name = await newReporter("shared");
  const { context, page } = await signedIn({ username: name, viewport: PHONE });
  await keptForOffline(page);
  // A tampered week (next week): the service refuses it, the queue says why.
  const future = plusWeeks(await page.getAttribute("#signal-form", "data-this-week"), 1);
  for (let i = 0; i < 2; i++) {
    await page.evaluate((week) => {
      const select = document.querySelector("#observed_week");
      select.add(new Option(week, week, true, true));
    }, future);
    await file(page, ["13-15", "recruitment_approach", "school"]);
  }
  await page.waitForFunction(() => document.querySelectorAll("#queue li.refused").length === 2);
  assert.match(await page.textContent("#queue li.refused"), /Avvisad: .*ligger i framtiden/);
  await assertAxeClean(page, "/rapportera with refused signals");
  await page.click("#queue li.refused button");
  await page.waitForFunction(() => document.querySelector("#queue").getAttribute("data-count") === "1");

  // Signing out with an unsent signal: a warning first; staying keeps everything.
  await page.click("header form[action='/logout'] button");
  await page.waitForSelector("#unsent-dialog[open]");
  assert.match(await page.textContent("#unsent-dialog"), /1 signal .*inte skickats/);
  await assertAxeClean(page, "the sign-out warning");
  await page.screenshot({ path: `${OUT}/rapportera-logga-ut-phone.png` });
  await page.click("#unsent-dialog button[value=stay]");
  assert.equal(new URL(page.url()).pathname, "/rapportera");
  assert.equal(await queued(page), 1);

  await page.click("header form[action='/logout'] button");
  await Promise.all([page.waitForNavigation(), page.click("#unsent-dialog button[value=leave]")]);
  assert.equal(new URL(page.url()).pathname, "/login");
  const left = await page.evaluate(async () => ({
    databases: (await indexedDB.databases()).map((d) => d.name).filter((n) => n.startsWith("lagesbild-")),
    caches: (await caches.keys()).filter((k) => k.startsWith("lagesbild-")),
    remembered: Object.keys(localStorage).filter((k) => k.startsWith("lagesbild-")),
  }));
  assert.deepEqual(left, { databases: [], caches: [], remembered: [] }, "nothing of the user is left on the phone");
  await signIn(page, name);
  await page.waitForSelector("#queue[data-count]", { state: "attached" });
  assert.equal(await queued(page), 0, "the queue is gone");
  assert.deepEqual(storedBy(name), {});
  await context.close();
});
