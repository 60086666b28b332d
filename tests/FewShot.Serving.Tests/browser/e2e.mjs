// End-to-end tests of the chat page in a real headless Chromium (Debian's /usr/bin/chromium via playwright-core).
// Usage: node e2e.mjs BASE_URL SCREENSHOT_DIR   (BrowserTests.cs starts the server and runs this script)
// Each check prints "ok - name" or "not ok - name: reason"; the exit code is the number of failures.
import { chromium } from "playwright-core";
import { mkdirSync } from "node:fs";
import { join } from "node:path";

const [baseUrl, screenshots] = process.argv.slice(2);
if (!baseUrl || !screenshots) { console.error("usage: node e2e.mjs BASE_URL SCREENSHOT_DIR"); process.exit(2); }
mkdirSync(screenshots, { recursive: true });

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  headless: true,
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"], // playwright adds a fresh --user-data-dir itself
});

let failures = 0;
async function check(name, body) {
  try { await body(); console.log(`ok - ${name}`); }
  catch (e) { failures++; console.log(`not ok - ${name}: ${String(e?.message || e).split("\n")[0]}`); }
}
function assert(condition, message) { if (!condition) throw new Error(message); }

const viewports = {
  desktop: { viewport: { width: 1280, height: 800 } },
  phone: { viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true, deviceScaleFactor: 2 },
};

async function lastAssistantText(page) {
  return page.locator(".message.assistant .body").last().innerText().catch(() => "");
}

async function sendMessage(page, text) {
  await page.fill("[data-testid=input]", text);
  await page.press("[data-testid=input]", "Enter");
}

for (const [name, options] of Object.entries(viewports)) {
  const context = await browser.newContext({ ...options, locale: "en-US" });
  const page = await context.newPage();
  const pageErrors = [];
  page.on("pageerror", e => pageErrors.push(e.message));
  await page.goto(baseUrl);

  const injection = `Hello ${name} <img src=x onerror="window.__pwned=1"><script>window.__pwned=2</script> **bold** \`code\``;
  await check(`${name}: typing a message streams a reply`, async () => {
    await sendMessage(page, injection);
    await page.waitForSelector(".message.assistant");
    // Seen growing at least twice while the stop button is up: it streams.
    const seen = new Set();
    const deadline = Date.now() + 20000;
    while (Date.now() < deadline && seen.size < 3 && await page.isVisible("[data-testid=stop]")) {
      const text = await lastAssistantText(page);
      if (text) seen.add(text.length);
      await page.waitForTimeout(20);
    }
    assert(seen.size >= 2, `the reply did not grow while streaming (lengths seen: ${[...seen]})`);
    await page.waitForSelector("[data-testid=send]:visible", { timeout: 30000 });
    assert((await lastAssistantText(page)).length > 0, "empty reply");
  });

  await check(`${name}: the user's HTML is shown as text, never run`, async () => {
    const user = page.locator(".message.user .body").first();
    assert((await user.innerText()).includes('<img src=x onerror="window.__pwned=1">'), "the markup is not shown literally");
    assert(await page.locator(".messages img, .messages script").count() === 0, "an img or script element was created");
    assert(await page.evaluate(() => window.__pwned) === undefined, "injected script ran");
    assert(await user.locator("strong").innerText() === "bold", "Markdown bold not rendered");
  });

  await check(`${name}: stop ends the generation and frees the server's row`, async () => {
    const replies = await page.locator(".message.assistant").count();
    await sendMessage(page, "Please write a very long answer");
    // Wait for the new reply's first text (not an earlier reply's), then press stop at once. The click is dispatched
    // to the button itself: at phone size a sliding panel can sit over it for a moment and swallow a pointer click.
    await page.waitForFunction(n => {
      const all = document.querySelectorAll(".message.assistant");
      return all.length > n && (all[all.length - 1].querySelector(".body")?.textContent || "").length > 0;
    }, replies, { timeout: 20000 });
    await page.locator("[data-testid=stop]").dispatchEvent("click");
    await page.waitForSelector("[data-testid=send]:visible", { timeout: 5000 });
    assert(await page.locator(".message.assistant.stopped").count() === 1, "the reply is not marked as stopped");
    const deadline = Date.now() + 3000;
    let health;
    do { health = await (await page.request.get(baseUrl + "healthz")).json(); } while (health.active_sequences > 0 && Date.now() < deadline);
    assert(health.active_sequences === 0, `the server still decodes ${health.active_sequences} sequence(s)`);
  });

  await page.screenshot({ path: join(screenshots, `chat-${name}.png`) });

  await check(`${name}: after a reload the conversation is in the list and opens`, async () => {
    await page.reload();
    if (name === "phone") await page.click("#menu");
    const item = page.locator("[data-testid=conversations] li", { hasText: `Hello ${name}` });
    await item.waitFor({ timeout: 5000 });
    await item.locator(".name").click();
    assert(await page.locator(".message.user").count() === 2, "the conversation's messages are missing");
    assert(await page.locator(".message.assistant.stopped").count() === 1, "the stopped reply is missing");
  });

  await check(`${name}: rename, export and delete`, async () => {
    if (name === "phone") await page.click("#menu");
    const item = page.locator("[data-testid=conversations] li").first();
    page.once("dialog", d => d.accept(`Renamed ${name}`));
    await item.locator("[data-action=rename]").click();
    assert((await page.locator("[data-testid=conversations] li").first().innerText()).includes(`Renamed ${name}`), "rename failed");
    const [markdown] = await Promise.all([page.waitForEvent("download"), page.locator("[data-testid=conversations] li").first().locator("[data-action=exportMd]").click()]);
    assert(markdown.suggestedFilename().endsWith(".md"), "Markdown export has no .md name");
    const [json] = await Promise.all([page.waitForEvent("download"), page.locator("[data-testid=conversations] li").first().locator("[data-action=exportJson]").click()]);
    assert(json.suggestedFilename().endsWith(".json"), "JSON export has no .json name");
    const count = await page.locator("[data-testid=conversations] li").count();
    page.once("dialog", d => d.accept());
    await page.locator("[data-testid=conversations] li").first().locator("[data-action=delete]").click();
    assert(await page.locator("[data-testid=conversations] li").count() === count - 1, "delete failed");
  });

  await check(`${name}: no script errors`, async () => assert(pageErrors.length === 0, pageErrors.join("; ")));
  await context.close();
}

// Model output is rendered safely too: replace the API's stream with hostile Markdown.
await check("model output cannot inject HTML; code blocks get a copy button", async () => {
  const context = await browser.newContext({ viewport: { width: 1000, height: 700 } });
  const page = await context.newPage();
  const hostile = "Here <img src=x onerror=\"window.__pwned=3\"> and <a href=\"javascript:alert(1)\">link</a>\n```html\n<script>window.__pwned=4</script>\n```\n";
  await page.route("**/v1/chat/completions", route => route.fulfill({
    status: 200, headers: { "Content-Type": "text/event-stream" },
    body: hostile.match(/.{1,7}/gs).map(p => `data: ${JSON.stringify({ choices: [{ index: 0, delta: { content: p } }] })}\n\n`).join("") + "data: [DONE]\n\n",
  }));
  await page.goto(baseUrl);
  await sendMessage(page, "show me");
  await page.waitForSelector(".message.assistant pre button.copy", { timeout: 10000 });
  assert(await page.locator(".messages img, .messages script, .messages a").count() === 0, "the model's markup became elements");
  assert(await page.evaluate(() => window.__pwned) === undefined, "injected script ran");
  assert((await page.locator(".message.assistant pre code").innerText()).includes("<script>window.__pwned=4</script>"), "code block content is not shown literally");
  await context.close();
});

// Every error the API can return gets a clear message.
const errors = [
  [401, { error: { message: "bad key", type: "invalid_request_error", code: "invalid_api_key" } }, {}, /access key is invalid/],
  [429, { error: { message: "quota", type: "insufficient_quota", code: "insufficient_quota" } }, { "Retry-After": "3600" }, /used up your quota\. It resets at /],
  [429, { error: { message: "slow down", type: "requests", code: "rate_limit_exceeded" } }, { "Retry-After": "12" }, /retry in 12 seconds/],
  [403, { error: { message: "Locked out until 18:00.", type: "permission_error", code: "locked_out" } }, {}, /locked.*Locked out until 18:00/],
  [503, { error: { message: "busy", type: "server_error", code: "server_overloaded" } }, { "Retry-After": "2" }, /busy.*retry in 2 seconds/],
  [400, { error: { message: "too long", type: "invalid_request_error", code: "context_length_exceeded" } }, {}, /too long for the model/],
];
for (const [status, body, headers, expected] of errors) {
  await check(`error ${status} ${body.error.code} is explained`, async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.route("**/v1/chat/completions", route => route.fulfill({ status, headers: { "Content-Type": "application/json", ...headers }, body: JSON.stringify(body) }));
    await page.goto(baseUrl);
    await page.fill("#access-key", "sk-test");
    await page.locator("#access-key").dispatchEvent("change");
    await sendMessage(page, "hi");
    const box = page.locator("[data-testid=error]");
    await box.waitFor({ state: "visible", timeout: 5000 });
    const text = await box.innerText();
    assert(expected.test(text), `got "${text}"`);
    await context.close();
  });
}

await check("the access key is remembered and sent as a Bearer token", async () => {
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.goto(baseUrl);
  await page.fill("#access-key", "sk-remember-me");
  await page.locator("#access-key").dispatchEvent("change");
  await page.reload();
  assert(await page.inputValue("#access-key") === "sk-remember-me", "key not remembered");
  const [request] = await Promise.all([page.waitForRequest("**/v1/chat/completions"), sendMessage(page, "hi")]);
  assert(request.headers()["authorization"] === "Bearer sk-remember-me", "no Authorization header");
  await context.close();
});

await check("a Chinese browser gets the Chinese UI, and the switch changes it", async () => {
  const context = await browser.newContext({ locale: "zh-CN" });
  const page = await context.newPage();
  await page.goto(baseUrl);
  assert(await page.innerText("[data-testid=send]") === "发送", "send button not in Chinese");
  assert((await page.locator("[data-testid=mode] option").allInnerTexts()).includes("聊天"), "modes not in Chinese");
  await page.selectOption("#language", "en");
  assert(await page.innerText("[data-testid=send]") === "Send", "switch to English failed");
  await context.close();
});

await browser.close();
console.log(failures === 0 ? "all browser checks passed" : `${failures} browser check(s) failed`);
process.exit(failures);
