/**
 * The first-contact detector (src/lib/contact-details.ts), a pure function: what it must find, what
 * it must leave alone, and the known misses and false alarms the README lists (pinned here, so a
 * change in them is a decision, not an accident).
 */
import { describe, expect, it } from "vitest";
import { type ContactKind, findContactDetails } from "../src/lib/contact-details";

const kindOf = (text: string) => findContactDetails(text)?.kind ?? null;

const FOUND: [ContactKind, string[]][] = [
  [
    "phone",
    [
      "call me +1 415 555 0100",
      "my number is (415) 555-0100",
      "+44 20 7946 0958",
      "07911 123456",
      "0044 20 7946 0958",
      "415.555.0100",
      "415-555-0100",
      "4155550100",
      "+49 (0)30 901820",
      "+33 6 12 34 56 78",
      "4 1 5 5 5 5 0 1 0 0",
      "4-1-5-5-5-5-0-1-0-0",
      "4.1.5.5.5.5.0.1.0.0",
      "text me at 415 / 555 / 0100",
      "four one five five five five zero one zero zero",
      "oh seven nine one one, one two three four five six",
      "０７９１１ １２３４５６", // full-width digits
    ],
  ],
  [
    "email",
    [
      "jane.doe@gmail.com",
      "write to Jane+dates@example.co.uk",
      "jane at gmail dot com",
      "jane (at) gmail (dot) com",
      "jane [at] gmail [dot] com",
      "jane @ gmail . com",
      "jane@gmail dot com",
    ],
  ],
  [
    "url",
    [
      "https://example.com/me",
      "see http://x.y",
      "www.x.y",
      "www . mysite . net",
      "example.com",
      "check out janedoe.co.uk/photos",
      "my page: jane-doe.io",
      "onlyfans.com/jane",
    ],
  ],
  ["handle", ["find me @jane_doe", "@janedoe92", "(@jane.doe)"]],
  [
    "messenger",
    [
      "insta: janedoe",
      "my insta is janedoe",
      "ig jane.doe",
      "add me on snapchat jane_d",
      "snap me janedoe92",
      "telegram: janedoe",
      "tg - janedoe",
      "whatsapp me on 415 555 0100", // a phone too; whichever is found first, it is refused
      "kik = jd_1990",
      "discord jane#1234",
      "my onlyfans is janexo",
      "INSTA: JaneDoe",
    ],
  ],
];

describe("findContactDetails finds links and contact details", () => {
  for (const [kind, samples] of FOUND) {
    for (const text of samples) {
      it(`${kind}: ${JSON.stringify(text)}`, () => {
        const hit = findContactDetails(text);
        expect(hit, text).not.toBeNull();
        if (!text.includes("whatsapp")) expect(hit?.kind).toBe(kind);
      });
    }
  }
});

describe("findContactDetails leaves ordinary chat alone", () => {
  const CLEAN = [
    "Hi! Loved your hiking photos",
    "Are you free this weekend? Saturday at 10.30 works",
    "It costs $19.99, or €1,299 for the big one",
    "I was born in 1990",
    "Let's meet at 7:45 pm, table for 2",
    "See you on 2026-11-24",
    "24.11.2026 works for me",
    "e.g. the park, i.e. outside",
    "I'm on insta too, and snap is fun",
    "the signal is weak here",
    "good.me too", // a missing space, not a domain (me is not a TLD this filter knows)
    "my score was 98 out of 100",
    "room 101, floor 3",
    "I sent an email yesterday at lunch",
    "what's your favourite app?",
    "one or two drinks?",
    "😀 @ 5pm?",
  ];
  for (const text of CLEAN) it(JSON.stringify(text), () => expect(findContactDetails(text)).toBeNull());
});

describe("known limits (listed in the README)", () => {
  it("false alarms: long digit runs that are not phone numbers", () => {
    expect(kindOf("we met 1990 2005 2010")).toBe("phone"); // three years in a row
    expect(kindOf("that's 1.000.000 likes")).toBe("phone"); // a European million
    expect(kindOf("order #12345678")).toBe("phone");
    expect(kindOf("I'm @home tonight")).toBe("handle");
  });

  it("misses: what no pattern can tell from chat", () => {
    expect(kindOf("find me on telegram")).toBeNull(); // a network without a handle
    expect(kindOf("my number starts with four one five, then five five five")).toBeNull(); // digits spread out
    expect(kindOf("jane doe on the gram")).toBeNull(); // slang
    expect(kindOf("janedoe at gmail")).toBeNull(); // no top-level domain
  });
});
