// The pages in a real browser (issue 14): what a coordinator does, checked against the
// API's own answers, with axe-core on every page. Run by tests/browser/run.sh, which
// starts the service and sets BASE_URL, COORDINATOR, REPORTER, PASSWORD, MIN_COUNT,
// CHROMIUM and OUT.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, readFileSync } from "node:fs";
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
  const response = await reporter.page.goto(`${BASE}/`);
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
