import { describe, expect, it } from "vitest";
import { bubble, expectNoConsoleErrors, grant, openWindow, person, server, signIn, useHarness } from "./harness";

// This file stops and restarts its server, so it runs its own (the suite's shared one stays up).
useHarness({ ownServer: true });

// A dropped socket logs "WebSocket connection … failed" while the server is away: provoked on purpose here.
const WHILE_DOWN = [/WebSocket connection to .* failed/, /Failed to load resource/];

describe("losing the connection", () => {
  it("a message sent while the other side's connection is down arrives exactly once after the reconnect (server restarted)", async () => {
    const [iris, jack] = [person("iris"), person("jack")];
    await Promise.all([grant(iris, 5), grant(jack, 5)]);
    const i = await openWindow("iris", { allow: WHILE_DOWN });
    const j = await openWindow("jack", { allow: WHILE_DOWN });
    // Jack's network: his sockets pass through to the server, unless his line is cut.
    let jackOffline = false;
    await j.page.routeWebSocket(/\/api\/v2\/messages\/ws/, (ws) => {
      if (jackOffline) ws.close({ code: 1006 });
      else ws.connectToServer();
    });
    await signIn(i.page, iris);
    await signIn(j.page, jack);
    await i.page.getByLabel("Partner id").fill(jack);
    await i.page.getByRole("button", { name: "Start" }).click();
    await j.page.getByLabel("Partner id").fill(iris);
    await j.page.getByRole("button", { name: "Start" }).click();
    await i.page.getByRole("status", { name: "online" }).waitFor();

    await i.page.getByRole("textbox", { name: "Message" }).fill("Before the storm");
    await i.page.getByRole("textbox", { name: "Message" }).press("Enter");
    await bubble(j.page, "Before the storm").waitFor();

    // The server goes away: both screens say so.
    await server.stop();
    await i.page.getByRole("status", { name: "Reconnecting" }).waitFor();
    await j.page.getByRole("status", { name: "Reconnecting" }).waitFor();

    // Jack's network stays down while the server comes back and Iris writes to him.
    jackOffline = true;
    await server.boot();
    await i.page.getByRole("status", { name: "Reconnecting" }).waitFor({ state: "hidden" });
    await i.page.getByRole("textbox", { name: "Message" }).fill("Did you get this?");
    await i.page.getByRole("textbox", { name: "Message" }).press("Enter");
    await bubble(i.page, "Did you get this?").getByRole("status", { name: "Sent" }).waitFor();
    expect(await bubble(j.page, "Did you get this?").count()).toBe(0);
    await j.page.getByRole("status", { name: "Reconnecting" }).waitFor();

    // Back online: Jack's socket resumes from the last seq it holds and gets the message once.
    jackOffline = false;
    await bubble(j.page, "Did you get this?").waitFor();
    await j.page.getByRole("status", { name: "Reconnecting" }).waitFor({ state: "hidden" });
    await bubble(i.page, "Did you get this?").getByRole("status", { name: "Read" }).waitFor();
    const texts = await j.page.getByRole("log", { name: "Messages" }).locator(".message .content").allInnerTexts();
    expect(texts).toEqual(["Before the storm", "Did you get this?"]);
    expectNoConsoleErrors();
  });
});
