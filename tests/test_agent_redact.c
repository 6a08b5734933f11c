/* Redaction: each kind of personal data is replaced (and look-alikes are
 * not), placeholders are numbered per kind and stable, and unredaction
 * restores the text byte for byte. */
#include "agent/pii_detect.h"
#include "agent/redact.h"
#include "test_util.h"

/* Redact IN with a fresh redactor and compare with WANT. */
static void expect(const char *in, const char *want) {
    mb_redactor *r = NULL;
    CHECK_OK(mb_redactor_new(&r));
    char *out = NULL;
    size_t n = 0;
    CHECK_OK(mb_redact(r, in, strlen(in), &out, &n));
    CHECK_MSG(out && !strcmp(out, want), "redact(\"%s\")\n  got  \"%s\"\n  want \"%s\"", in,
              out ? out : "(null)", want);
    CHECK_EQ_INT(n, out ? strlen(out) : 0);
    /* Everything redacted comes back. */
    char *back = NULL;
    CHECK_OK(mb_unredact(r, out, n, &back, NULL));
    CHECK_MSG(back && !strcmp(back, in), "unredact gave \"%s\"", back ? back : "(null)");
    CHECK_EQ_INT(mb_text_has_pii(in, strlen(in)), strcmp(in, want) != 0);
    free(back);
    free(out);
    mb_redactor_free(r);
}

static void test_email(void) {
    expect("write to jane.doe+work@example.co.uk today", "write to [EMAIL_1] today");
    expect("(bob@mail.example.com).", "([EMAIL_1]).");
    expect("an @ sign, user@localhost and a@b.c stay", "an @ sign, user@localhost and a@b.c stay");
}

static void test_phone(void) {
    expect("call +44 20 7946 0958 now", "call [PHONE_1] now");
    expect("call +1 (555) 123-4567.", "call [PHONE_1].");
    expect("tel:+49-30-1234567", "tel:[PHONE_1]");
    expect("ring +33 6 12 34 56 78", "ring [PHONE_1]");
    expect("US: (555) 123-4567 or 555.123.4567", "US: [PHONE_1] or [PHONE_2]");
    expect("UK 020 7946 0958, FR 06 12 34 56 78", "UK [PHONE_1], FR [PHONE_2]");
    expect("+44 (0)20 7946 0958", "[PHONE_1]");
    expect("In 2024 +1 555 123 4567 answered", "In 2024 [PHONE_1] answered");
    expect("Call me at 555-123-4567.", "Call me at [PHONE_1].");
    /* Years, dates, times, prices, counts and short numbers are no phones. */
    expect("In 2024 on 2024-01-15 at 12:30", "In 2024 on 2024-01-15 at 12:30");
    expect("It cost $1,234,567.89 or 1 234 567 890 yen",
           "It cost $1,234,567.89 or 1 234 567 890 yen");
    expect("pi is 3.1415926535 and 12.03.2024 a date", "pi is 3.1415926535 and 12.03.2024 a date");
    expect("room 101, 42 cats, +5", "room 101, 42 cats, +5");
}

/* The kinds of issue 24: IDs by shape and by label, dates of birth, IP
 * addresses, secrets; and what must stay. */
static void test_ids_and_secrets(void) {
    expect("SSN 123-45-6789.", "SSN [ID_1].");
    expect("ssn is 123-45-6789", "ssn is [ID_1]");
    expect("NI QQ 12 34 56 C ok", "NI [ID_1] ok");
    expect("DNI 12345678Z", "DNI [ID_1]");
    expect("ref 12345678Y", "ref [ID_1]"); /* the DNI letter is wrong; the label still counts */
    expect("12345678Y was it", "12345678Y was it");
    expect("born on 2 May 2016, in Leeds", "born on [DOB_1], in Leeds");
    expect("met on 2 May 2016", "met on 2 May 2016"); /* a date, no birth cue */
    expect("ping 192.168.1.20 now", "ping [IP_1] now");
    expect("host ::1 and fe80::1", "host ::1 and [IP_1]");
    expect("version 1.2.3 and 1.2.3.4.5", "version 1.2.3 and 1.2.3.4.5");
    expect("at 12:30:45 sharp", "at 12:30:45 sharp");
    expect("key sk-abcdefghijklmnopqrstuv ok", "key [SECRET_1] ok");
    expect("password: hunter2!", "password: [SECRET_1]");
    expect("a password is required", "a password is required");
    expect("postgres://u:S3cret@db/x", "postgres://u:[SECRET_1]@db/x");
    expect("my daughter Chloe Adams is ill", "my daughter [NAME_1] is ill");
    expect("the ID column is the key", "the ID column is the key");
    expect("what number comes after 99?", "what number comes after 99?");
    expect("send invoice to 1600 Pennsylvania Avenue NW", "send invoice to [ADDRESS_1]");
}

static void test_card(void) {
    expect("card 4111 1111 1111 1111 exp 12/27", "card [CARD_1] exp 12/27");
    expect("amex 3782-822463-10005", "amex [CARD_1]");
    expect("visa 4012888888881881.", "visa [CARD_1].");
    /* A failing Luhn check is not a card (and not a phone either). */
    expect("card 4111 1111 1111 1112", "card 4111 1111 1111 1112");
    expect("value 1234567890123456789012", "value 1234567890123456789012");
    /* After a label, a long number is an identifier all the same. */
    expect("id 1234567890123456789012", "id [ID_1]");
    CHECK(mb_pii_luhn_ok("79927398713", 11));
    CHECK(!mb_pii_luhn_ok("79927398710", 11));
}

static void test_iban(void) {
    expect("IBAN DE89 3704 0044 0532 0130 00 please", "IBAN [IBAN_1] please");
    expect("to GB82WEST12345698765432.", "to [IBAN_1].");
    expect("NL91 ABNA 0417 1643 00", "[IBAN_1]");
    /* A wrong check digit, a wrong length, an unknown country. */
    expect("IBAN DE88 3704 0044 0532 0130 00", "IBAN DE88 3704 0044 0532 0130 00");
    expect("IBAN DE89 3704 0044 0532 0130", "IBAN DE89 3704 0044 0532 0130");
    expect("ZZ89 3704 0044 0532 0130 00", "ZZ89 3704 0044 0532 0130 00");
    CHECK(mb_pii_iban_ok("GB82WEST12345698765432", 22));
    CHECK(!mb_pii_iban_ok("GB83WEST12345698765432", 22));
}

static void test_address(void) {
    expect("I live at 221B Baker Street.", "I live at [ADDRESS_1].");
    expect("Send it to 1600 Pennsylvania Avenue NW, Washington, DC 20500 by May",
           "Send it to [ADDRESS_1] by May");
    expect("at 742 Evergreen Terrace, Apt 4B, Springfield, IL 62704.", "at [ADDRESS_1].");
    expect("meet at 5 Main St. tomorrow", "meet at [ADDRESS_1] tomorrow");
    expect("Adresse: Hauptstraße 5, 10115 Berlin", "Adresse: [ADDRESS_1]");
    expect("Kalverstraat? no: Keizersgracht 123", "Kalverstraat? no: [ADDRESS_1]");
    /* Numbers followed by other words are no addresses. */
    expect("I have 3 Big Dogs and 2 cats", "I have 3 Big Dogs and 2 cats");
    expect("The 5 Road Trips", "The 5 Road Trips");
}

static void test_name(void) {
    expect("Ask Dr. Jane Smith first", "Ask Dr. [NAME_1] first");
    expect("Mrs Okafor called", "Mrs [NAME_1] called");
    expect("Hello, my name is Anna Berg and I need help",
           "Hello, my name is [NAME_1] and I need help");
    expect("I am Tom. I'm Lucy Liu!", "I am [NAME_1]. I'm [NAME_2]!");
    expect("Yesterday Maria Garcia wrote.", "Yesterday [NAME_1] wrote.");
    expect("Thanks for the help.\n\nBest regards,\nKlaus Meyer\n",
           "Thanks for the help.\n\nBest regards,\n[NAME_1]\n");
    expect("Herr Jürgen Müller kommt", "Herr [NAME_1] kommt");
    /* Not names: "I am" + a nationality, acronyms, lower case, phrases. */
    expect("I am French and I am Happy", "I am French and I am Happy");
    expect("The United Nations met in New York", "The United Nations met in New York");
    expect("my name is bob", "my name is bob");
    expect("Mr. NASA", "Mr. NASA");
}

static void test_numbering_and_mixed(void) {
    mb_redactor *r = NULL;
    CHECK_OK(mb_redactor_new(&r));
    const char *a = "Mail ann@x.org or bob@y.org; ann@x.org again. Call +44 20 7946 0958.";
    char *out = NULL, *back = NULL;
    size_t n = 0;
    CHECK_OK(mb_redact(r, a, strlen(a), &out, &n));
    CHECK_MSG(!strcmp(out, "Mail [EMAIL_1] or [EMAIL_2]; [EMAIL_1] again. Call [PHONE_1]."), "%s",
              out);
    CHECK_EQ_INT(mb_redactor_count(r), 3);
    CHECK_EQ_INT(mb_redactor_count_kind(r, MB_PII_EMAIL), 2);
    CHECK_EQ_INT(mb_redactor_count_kind(r, MB_PII_PHONE), 1);
    free(out);
    /* The same redactor keeps its numbers across calls (one conversation). */
    const char *b = "bob@y.org wrote to cy@z.org";
    CHECK_OK(mb_redact(r, b, strlen(b), &out, &n));
    CHECK_MSG(!strcmp(out, "[EMAIL_2] wrote to [EMAIL_3]"), "%s", out);
    free(out);
    /* The oracle's answer: known placeholders restored, unknown and
     * malformed ones kept as they are. */
    const char *ans = "Dear [EMAIL_3], [PHONE_1] and [EMAIL_9] [EMAIL_0] [NAME_1] [EMAIL_2";
    CHECK_OK(mb_unredact(r, ans, strlen(ans), &back, NULL));
    CHECK_MSG(!strcmp(back, "Dear cy@z.org, +44 20 7946 0958 and [EMAIL_9] [EMAIL_0] [NAME_1] "
                            "[EMAIL_2"),
              "%s", back);
    free(back);
    mb_redactor_free(r);

    expect("From: Dr. Ada Lovelace <ada@engine.org>, +44 20 7946 0958, card "
           "4111-1111-1111-1111, IBAN GB82 WEST 1234 5698 7654 32, 10 Downing Street.",
           "From: Dr. [NAME_1] <[EMAIL_1]>, [PHONE_1], card [CARD_1], IBAN [IBAN_1], "
           "[ADDRESS_1].");
    expect("", "");
    expect("nothing personal here", "nothing personal here");
}

/* Long hostile inputs finish (linear scan) and round-trip exactly. */
static void test_hostile(void) {
    size_t n = 1 << 20;
    char *s = malloc(n + 1);
    const char *pat[] = {"a@", "1 ", "+1 ", "Mr ", "A", "\xc3\xa9", "[EMAIL_1]"};
    for (int p = 0; p < 7; p++) {
        size_t k = strlen(pat[p]);
        for (size_t i = 0; i < n; i++)
            s[i] = pat[p][i % k];
        s[n] = '\0';
        mb_redactor *r = NULL;
        CHECK_OK(mb_redactor_new(&r));
        char *out = NULL, *back = NULL;
        size_t on = 0, bn = 0;
        CHECK_OK(mb_redact(r, s, n, &out, &on));
        CHECK_OK(mb_unredact(r, out, on, &back, &bn));
        if (p < 6) CHECK_MSG(bn == n && !memcmp(back, s, n), "pattern %d", p);
        free(out);
        free(back);
        mb_redactor_free(r);
    }
    /* Many distinct values: hash lookups, numbers past 9. */
    char buf[64 * 1000 + 1];
    size_t at = 0;
    for (int i = 0; i < 1000; i++)
        at += (size_t)snprintf(buf + at, sizeof buf - at, "u%d@ex.com ", i);
    mb_redactor *r = NULL;
    CHECK_OK(mb_redactor_new(&r));
    char *out = NULL, *back = NULL;
    size_t on = 0;
    CHECK_OK(mb_redact(r, buf, at, &out, &on));
    CHECK_EQ_INT(mb_redactor_count_kind(r, MB_PII_EMAIL), 1000);
    CHECK(strstr(out, "[EMAIL_1000]") != NULL);
    CHECK_OK(mb_unredact(r, out, on, &back, NULL));
    CHECK(!strcmp(back, buf));
    free(out);
    free(back);
    mb_redactor_free(r);
    free(s);
}

int main(void) {
    test_email();
    test_phone();
    test_card();
    test_ids_and_secrets();
    test_iban();
    test_address();
    test_name();
    test_numbering_and_mixed();
    test_hostile();
    return mbt_finish();
}
