/* Person names, by a heuristic (docs/PRIVACY.md states its limits):
 *   1. a title and capitalized words: "Dr. Jane Smith" -> "Dr. [NAME_1]";
 *   2. a self-introduction: "my name is Anna", "I am Anna Berg", "I'm Tom",
 *      "call me Ed", "signed, Bo Li";
 *   3. a signature: a line of one to three capitalized words right after a
 *      closing line ("Best regards,", "Thanks,", "--");
 *   4. a first name from a short embedded list followed by one or two
 *      capitalized words: "Maria Garcia", "John Ronald Tolkien".
 * Only capitalized words count, so lower-case names, single names outside
 * cues 1-3 and first names outside the list are missed. */
#include <string.h>

#include "agent/pii_scan.h"

static const char *const k_titles[] = {
    "Mr",   "Mrs",    "Ms",    "Miss",    "Mx",      "Dr",     "Prof", "Sir",    "Dame",
    "Lady", "Lord",   "Madam", "Herr",    "Frau",    "Mme",    "Mlle", "Señor",  "Señora",
    "Aunt", "Auntie", "Uncle", "Grandma", "Grandpa", "Granny", "Nana", "Cousin", NULL};

/* Common first names, written for this list. Names that are also common
 * words (Will, May, Mark, Grace, Rose, Bill, Hope) are left out on purpose:
 * they would turn phrases like "Will Power" into names. */
static const char *const k_first_names[] = {
    "James",    "John",     "Robert",    "Michael",  "David",    "William",  "Richard",
    "Joseph",   "Thomas",   "Charles",   "Daniel",   "Matthew",  "Anthony",  "Steven",
    "Paul",     "Andrew",   "Joshua",    "Kenneth",  "Kevin",    "Brian",    "George",
    "Edward",   "Ronald",   "Timothy",   "Jason",    "Jeffrey",  "Ryan",     "Jacob",
    "Gary",     "Nicholas", "Eric",      "Jonathan", "Stephen",  "Larry",    "Justin",
    "Scott",    "Brandon",  "Benjamin",  "Samuel",   "Peter",    "Mary",     "Patricia",
    "Jennifer", "Linda",    "Elizabeth", "Barbara",  "Susan",    "Jessica",  "Sarah",
    "Karen",    "Nancy",    "Lisa",      "Margaret", "Sandra",   "Ashley",   "Emily",
    "Donna",    "Michelle", "Carol",     "Amanda",   "Melissa",  "Deborah",  "Stephanie",
    "Rebecca",  "Laura",    "Sharon",    "Cynthia",  "Kathleen", "Amy",      "Angela",
    "Anna",     "Emma",     "Olivia",    "Sophia",   "Isabella", "Mia",      "Charlotte",
    "Amelia",   "Harper",   "Evelyn",    "Maria",    "Jose",     "Juan",     "Carlos",
    "Luis",     "Ana",      "Sofia",     "Lucia",    "Hans",     "Klaus",    "Jürgen",
    "Stefan",   "Wolfgang", "Ursula",    "Sabine",   "Monika",   "Pierre",   "Jean",
    "Marie",    "Sophie",   "Camille",   "Giuseppe", "Giulia",   "Marco",    "Francesca",
    "Lars",     "Erik",     "Ingrid",    "Astrid",   "Jan",      "Piet",     "Anke",
    "Ivan",     "Olga",     "Natalia",   "Dmitri",   "Wei",      "Li",       "Hiroshi",
    "Yuki",     "Raj",      "Priya",     "Ahmed",    "Fatima",   "Mohammed", "Ali",
    "Omar",     "Aisha",    NULL,
};

/* Capitalized words that follow "I am" without being names. */
static const char *const k_not_names[] = {
    "Sorry",    "Happy",   "Not",      "The",        "A",         "An",       "In",
    "At",       "On",      "Here",     "Fine",       "Ready",     "Glad",     "Very",
    "So",       "Just",    "Also",     "Still",      "English",   "French",   "German",
    "Spanish",  "Italian", "American", "British",    "Chinese",   "Japanese", "Indian",
    "Canadian", "Dutch",   "Swedish",  "Russian",    "Christian", "Muslim",   "Jewish",
    "Catholic", "Hungry",  "Tired",    "Sure",       "Afraid",    "Your",     "Looking",
    "Writing",  "Going",   "Trying",   "Interested", "Available", "Back",     "Done",
    NULL,
};

/* Lower-case particles inside a name ("Daan de Vries", "Ludwig van Beethoven"). */
static const char *const k_particles[] = {"de",  "van", "der", "von", "di",  "da",
                                          "del", "la",  "le",  "du",  "dos", "das",
                                          "den", "ter", "bin", "al",  NULL};

/* Up to MAX capitalized words from I, joined by single spaces (not across a
 * sentence end), with particles between them; returns the end of the last,
 * or I. */
static size_t name_words(const char *t, size_t n, size_t i, int max) {
    size_t end = i, j = i;
    for (int w = 0; w < max; w++) {
        size_t e = pii_name_word(t, n, j);
        if (e == j && w > 0) { /* a particle counts when a name word follows it */
            size_t p = pii_word_end(t, n, j);
            if (p > j && p + 1 < n && t[p] == ' ' && pii_in_list(t, j, p, k_particles) &&
                pii_name_word(t, n, p + 1) > p + 1) {
                j = p + 1;
                e = pii_name_word(t, n, j);
            }
        }
        if (e == j) break;
        end = e;
        if (e + 1 >= n || t[e] != ' ') break;
        j = e + 1;
    }
    return end;
}

/* The first name word after the cue ending at J (one space), unless it is a
 * word that is no name. */
static size_t after_cue(const char *t, size_t n, size_t j, size_t *start) {
    if (j >= n || t[j] != ' ') return 0;
    size_t s = j + 1, first = pii_name_word(t, n, s);
    if (first == s || pii_in_list(t, s, first, k_not_names)) return 0;
    size_t e = name_words(t, n, s, 3);
    if (e <= s) return 0;
    *start = s;
    return e;
}

size_t pii_match_name_cue(const char *t, size_t n, size_t i, size_t *start) {
    if (!pii_starts(t, i) || !pii_alpha((unsigned char)t[i])) return 0;
    if (pii_upper((unsigned char)t[i])) {
        size_t e = pii_word_end(t, n, i);
        if (e > i && pii_in_list(t, i, e, k_titles)) {
            if (e < n && t[e] == '.') e++;
            return after_cue(t, n, e, start);
        }
    }
    static const char *const k_cues[] = {
        "my name is", "i am", "i'm", "call me", "signed,", "name:", "name", "recipient:", "sono",
        "mijn naam is", "ich heiße", "ich heisse", "je m'appelle", "me llamo", "mi nombre es",
        "mein name ist", "meu nome é", "il mio nome è", "je suis", "ik ben", "paciente", "patient",
        /* a greeting that introduces; a closing that
         * signs on the same line */
        "hi, this is", "hello, this is", "hey, this is", "thanks,", "thank you,", "regards,",
        "best regards,", "kind regards,", "cheers,", "best,", "saludos,", "cordialement,", "grüße,",
        "groeten,", "saluti,", "atenciosamente,", NULL};
    for (const char *const *c = k_cues; *c; c++) {
        size_t k = strlen(*c);
        /* "I am" and "I'm" only with a capital I, as the pronoun is written. */
        if (pii_eq(t, n, i, *c, true) && ((*c)[0] != 'i' || (*c)[1] != ' ' || t[i] == 'I') &&
            ((*c)[0] != 'i' || (*c)[1] != '\'' || t[i] == 'I') &&
            (i + k >= n || !pii_alnum((unsigned char)t[i + k])))
            return after_cue(t, n, i + k, start);
    }
    return 0;
}

size_t pii_match_name_listed(const char *t, size_t n, size_t i, size_t *start) {
    (void)start;
    if (!pii_upper((unsigned char)t[i]) || !pii_starts(t, i)) return 0;
    size_t e = pii_name_word(t, n, i);
    if (e == i || !pii_in_list(t, i, e, k_first_names)) return 0;
    if (e + 1 >= n || t[e] != ' ') return 0;
    size_t rest = name_words(t, n, e + 1, 2);
    return rest > e + 1 ? rest : 0;
}

static const char *const k_closings[] = {
    "regards",
    "best regards",
    "kind regards",
    "warm regards",
    "best wishes",
    "best",
    "thanks",
    "thank you",
    "many thanks",
    "cheers",
    "sincerely",
    "yours sincerely",
    "yours truly",
    "yours",
    "love",
    "cordially",
    "--",
    "viele grüße",
    "liebe grüße",
    "beste grüße",
    "mit freundlichen grüßen",
    "cordialement",
    "bien à vous",
    "saludos",
    "un saludo",
    "atentamente",
    "met vriendelijke groet",
    "groeten",
    "distinti saluti",
    "cordiali saluti",
    "atenciosamente",
    "abraços",
    NULL,
};

/* True when the line ending at END (exclusive, the '\n') is a closing. */
static bool closing_line(const char *t, size_t end) {
    size_t s = end;
    while (s > 0 && end - s < 32 && t[s - 1] != '\n')
        s--;
    if (s > 0 && t[s - 1] != '\n') return false;
    size_t e = end;
    while (e > s && (t[e - 1] == ' ' || t[e - 1] == '\r'))
        e--;
    while (s < e && t[s] == ' ')
        s++;
    if (e > s && (t[e - 1] == ',' || t[e - 1] == '!' || t[e - 1] == '.')) e--;
    if (e > s + 1 && !memcmp(t + s, "--", 2) && e - s <= 3) return true;
    for (const char *const *c = k_closings; *c; c++)
        if (strlen(*c) == e - s && pii_eq(t, e, s, *c, true)) return true;
    return false;
}

size_t pii_match_signature(const char *t, size_t n, size_t i, size_t *start) {
    (void)start;
    if (i == 0 || t[i - 1] != '\n' || !pii_upper((unsigned char)t[i])) return 0;
    size_t prev_end = i - 1;
    if (prev_end > 0 && t[prev_end - 1] == '\r') prev_end--;
    if (!closing_line(t, prev_end)) return 0;
    size_t e = name_words(t, n, i, 3);
    if (e == i) return 0;
    size_t j = e;
    while (j < n && (t[j] == ' ' || t[j] == '\r'))
        j++;
    return j >= n || t[j] == '\n' ? e : 0;
}

/* Possessives and kinship or relationship words: "my daughter Chloe Adams",
 * "Ma fille Camille", "Mein Sohn Jonas", "mi hija Lucía", "my boss, Karen". */
static const char *const k_possessives[] = {"my",  "our", "ma",   "mon",  "mein", "meine", "mi",
                                            "mia", "mio", "mijn", "onze", "meu",  "minha", NULL};
static const char *const k_kin[] = {
    "daughter",   "son",        "wife",        "husband",       "brother",      "sister",
    "mother",     "father",     "mom",         "mum",           "dad",          "girlfriend",
    "boyfriend",  "partner",    "grandson",    "granddaughter", "grandmother",  "grandfather",
    "grandma",    "grandpa",    "uncle",       "aunt",          "cousin",       "nephew",
    "niece",      "friend",     "neighbour",   "neighbor",      "colleague",    "boss",
    "landlord",   "landlady",   "lawyer",      "doctor",        "child",        "baby",
    "fiancé",     "fiancée",    "spouse",      "stepson",       "stepdaughter", "fille",
    "fils",       "femme",      "mari",        "frère",         "sœur",         "mère",
    "père",       "ami",        "amie",        "tochter",       "sohn",         "frau",
    "mann",       "bruder",     "schwester",   "mutter",        "vater",        "freund",
    "freundin",   "hija",       "hijo",        "esposa",        "esposo",       "marido",
    "mujer",      "hermano",    "hermana",     "madre",         "padre",        "amigo",
    "amiga",      "figlia",     "figlio",      "moglie",        "marito",       "fratello",
    "sorella",    "amico",      "dochter",     "zoon",          "vrouw",        "man",
    "broer",      "zus",        "moeder",      "vader",         "vriend",       "vriendin",
    "filha",      "filho",      "irmão",       "irmã",          "mãe",          "pai",
    "stepmother", "stepfather", "stepbrother", "stepsister",    "nanny",        "babysitter",
    "caregiver",  "tutor",      "abuela",      "abuelo",        "tía",          "tío",
    "oma",        "opa",        "tante",       "onkel",         "nonna",        "nonno",
    "zia",        "zio",        "avó",         "avô",           "grand-mère",   "grand-père",
    NULL};

static bool in_list_icase(const char *t, size_t n, size_t i, size_t e, const char *const *list) {
    for (const char *const *w = list; *w; w++)
        if (strlen(*w) == e - i && pii_eq(t, n, i, *w, true)) return true;
    return false;
}

size_t pii_match_name_kin(const char *t, size_t n, size_t i, size_t *start) {
    if (!pii_starts(t, i) || !pii_alpha((unsigned char)t[i])) return 0;
    size_t e = pii_word_end(t, n, i);
    if (e == i || e >= n || t[e] != ' ' || !in_list_icase(t, n, i, e, k_possessives)) return 0;
    size_t k = e + 1, ke = pii_word_end(t, n, k);
    if (ke == k || !in_list_icase(t, n, k, ke, k_kin)) return 0;
    if (ke < n && t[ke] == ',') ke++;
    return after_cue(t, n, ke, start);
}
