#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Writes data/squad/public_domain/{train,dev}-v2.0.json: a small SQuAD 2.0-format question-answering set, written by
hand for this repository, on public-domain passages from the repository's own corpora (data/corpora: Melville's
Moby Dick, Jane Austen's Emma and Mansfield Park, early State of the Union addresses, the World English Bible). It is
the default data of the span probes in pipelines/layer-probes.yaml: a fixture that shows the pipeline working, not a
benchmark.

  python3 scripts/make_squad_fixture.py

Rules (python3 standard library only; a rerun writes the same bytes):
  - A context is lines [first, last) of a corpus file's non-blank lines (stripped), joined with single spaces; the
    files have one sentence (the Bible: one verse) a line. Each passage names its file, its line range and its first
    words; the script stops if the context does not start with those words (the corpus changed) or is not 60-180
    words long, or if two passages overlap.
  - State of the Union years: sotu.txt holds one address a document, the first the address of December 1790 and
    then one a year, so document i (0-based) is the address of 1790 + i.
  - Questions are in this file. An answer is given as its text, or as (text, k) for the k-th occurrence (0-based)
    when the text occurs more than once in the context; its answer_start (characters, Python str index, as SQuAD
    counts them) is computed here, and the script stops if the text does not occur, or occurs more than once
    without k.
  - Unanswerable questions (SQuAD 2.0) have "is_impossible": true, "answers": [] and, where a span of the passage
    looks like an answer but is not one, "plausible_answers".
  - Dev questions may have several gold answers (the same span with or without its article or a leading or
    trailing word), as SQuAD's dev annotators give them; train questions have one.
  - Question ids are the first 24 hex digits of sha1("<split>:<title>:<question>").
"""
import functools
import hashlib
import json
import pathlib
import sys

REPO = pathlib.Path(__file__).resolve().parent.parent

# (split, title, corpus file, first line, last line (exclusive), first words, questions). A question is
# (question, [answers]) or (question, None, [plausible answers]) when unanswerable.
PASSAGES = [
    # ---- train: State of the Union addresses ----
    ("train", "State_of_the_Union_1825_Congress", "sotu.txt", 2934, 2938,
     "The legislative representation of the States", [
        ("How many members did the House at first consist of?", ["65"]),
        ("How many members does the Senate now have?", ["48"]),
        ("How many members did the Senate at first consist of?", ["26"]),
        ("Which department is, even more than the executive, confined to its primitive organization?",
         ["the judiciary departments"]),
        ("How many judges sit on the Supreme Court?", None, ["48"]),
        ("In what year did the House have 65 members?", None, []),
    ]),
    ("train", "State_of_the_Union_1826_navy", "sotu.txt", 3090, 3093, "In like manner the estimate of appropriations", [
        ("The estimated Navy Department appropriations total more than what sum?", ["$3,000,000"]),
        ("On what date did Congress pass the act for the gradual increase of the Navy?", ["April 29th, 1816"]),
        ("How much did Congress appropriate each year for the increase of the Navy?", ["$1,000,000"]),
        ("How many ships did the Navy have in 1816?", None, ["eight"]),
        ("Who commanded the Navy during the late war?", None, []),
    ]),
    ("train", "State_of_the_Union_1827_treaties", "sotu.txt", 3156, 3158, "Two conventions for continuing in force", [
        ("On what date were the two conventions concluded?", ["August 6th, 1827"]),
        ("Between which two countries were the treaties of peace made?", ["the United States and Great Britain"]),
        ("Over how many degrees of latitude does the boundary line extend?", ["nearly 20 degrees"]),
        ("Which war did the treaties of peace end?", ["the war of our independence"]),
        ("Who signed the conventions for Great Britain?", None, []),
        ("Which mountains does the boundary line cross?", None, []),
    ]),
    ("train", "State_of_the_Union_1827_revenue", "sotu.txt", 3228, 3230,
     "The amount of duties secured on merchandise", [
        ("Until what date were the duties on imported merchandise counted?", ["September 30th, 1827"]),
        ("How much in duties had been secured since the year began?", ["$21,226,000"]),
        ("At what amount are the receipts of the ensuing year estimated?", ["$22,300,000"]),
        ("How much was spent on the Army during the year?", None, ["$22,300,000"]),
        ("Who was the Secretary of the Treasury?", None, []),
    ]),
    ("train", "State_of_the_Union_1829_revenue_collection", "sotu.txt", 3639, 3642,
     "Sustained by its healthful and invigorating influence", [
        ("What is the chief cause of the losses in collecting the revenue?", ["the long credits"]),
        ("From beyond which cape were the goods on long credit imported?", ["the Cape of Good Hope"]),
        ("Who should provide ware-houses for the goods offered in deposit?", ["Government"]),
        ("How much revenue was lost because of the long credits?", None, []),
        ("Which port received the most goods from beyond the Cape?", None, []),
    ]),
    ("train", "State_of_the_Union_1801_census", "sotu.txt", 623, 626, "I lay before you the result of the census", [
        ("Over how many years was the growth in numbers measured?", ["10 years"]),
        ("In about how long does the growth promise to double the population?", ["little more than 22 years"]),
        ("At what kind of ratio did the numbers increase?", ["geometric ratio"]),
        ("How many inhabitants did the census count?", None, []),
        ("Who carried out the census?", None, []),
    ]),
    ("train", "State_of_the_Union_1823_colonization", "sotu.txt", 2345, 2348,
     "A similar proposal had been made by His Imperial Majesty", [
        ("To which other government had the Emperor made a similar proposal?", ["Great Britain"]),
        ("Which lands are no longer open to future colonization?", ["the American continents"]),
        ("Who may not treat the American continents as subjects for colonization?", ["any European powers"]),
        ("What was the Emperor's name?", None, ["His Imperial Majesty"]),
        ("What was the subject of the proposal made to Great Britain?", None, []),
    ]),
    ("train", "State_of_the_Union_1828_census", "sotu.txt", 3477, 3483, "The term of six months limited", [
        ("How long did the marshals have to make their returns?", ["six months"]),
        ("Which season does the address call the most favorable for the count?", ["the spring"]),
        ("Which census was the first to record the country's manufactures?", ["The 3rd Census"]),
        ("What was the total population found by the last census?", None, ["3,000,000"]),
        ("How many marshals took part in the enumeration?", None, []),
    ]),
    # ---- train: Moby Dick ----
    ("train", "Moby_Dick_New_Bedford", "moby_dick.txt", 100, 106, "I stuffed a shirt or two", [
        ("Which town did the narrator reach after leaving Manhatto?", [("New Bedford", 0)]),
        ("In what month did he arrive?", ["December"]),
        ("Until when would there be no way of getting to Nantucket?", ["the following Monday"]),
        ("What was the name of the packet for Nantucket?", None, []),
        ("How long did the journey from Manhatto take?", None, []),
    ]),
    ("train", "Moby_Dick_Chapel_Tablets", "moby_dick.txt", 535, 542, "Three of them ran something like", [
        ("How old was John Talbot when he went overboard?", ["eighteen"]),
        ("Near which island was John Talbot lost?", ["the Isle of Desolation"]),
        ("Where was Captain Ezekiel Hardy killed?", ["the coast of Japan"]),
        ("On which ship did Captain Ezekiel Hardy sail?", None, ["ELIZA"]),
        ("How old was Captain Ezekiel Hardy when he died?", None, ["eighteen"]),
    ]),
    ("train", "Moby_Dick_Cadiz", "moby_dick.txt", 624, 627, "And where is Cadiz, shipmates?", [
        ("In which country is Cadiz?", ["Spain"]),
        ("What is the modern name of Joppa?", ["Jaffa"]),
        ("How far westward of Joppa is Tarshish?", ["more than two thousand miles"]),
        ("In what year did Jonah sail from Joppa?", None, []),
        ("What was the name of Jonah's ship?", None, ["Tarshish"]),
    ]),
    ("train", "Moby_Dick_Queequeg", "moby_dick.txt", 836, 843, "Queequeg was a native of Rokovoko", [
        ("On which island was Queequeg born?", ["Rokovoko"]),
        ("What office did Queequeg's uncle hold?", ["a High Priest"]),
        ("Where did the ship that came to his father's bay hail from?", ["Sag Harbor"]),
        ("What was the name of Queequeg's father?", None, ["a High Chief"]),
        ("How many aunts did Queequeg have?", None, []),
    ]),
    ("train", "Moby_Dick_Lay", "moby_dick.txt", 1167, 1173, "“Why, blast your eyes, Bildad,”", [
        ("Which lay does Bildad keep proposing for the young man?", ["Seven hundred and seventy-seventh"]),
        ("For which lay does Peleg want to sign the young man?", ["the three hundredth"]),
        ("According to Bildad, who are many of the ship's other owners?", ["widows and orphans"]),
        ("How many owners does the ship have?", None, []),
        ("What is the young man's name?", None, []),
    ]),
    ("train", "Moby_Dick_Bildad", "moby_dick.txt", 1623, 1629, "And he, too, did not a little run", [
        ("Who was the chief mate?", ["Starbuck"]),
        ("Whom did he address as his old shipmate?", ["Captain Bildad"]),
        ("Which yard did he order to be backed?", ["the main-yard"]),
        ("How old was Captain Bildad?", None, []),
        ("What was the name of the boat that came alongside?", None, []),
    ]),
    ("train", "Moby_Dick_Loose_Fish", "moby_dick.txt", 5832, 5839, "What was America in 1492", [
        ("Who struck the Spanish standard in America?", ["Columbus"]),
        ("In what year was America a Loose-Fish for Columbus?", ["1492"]),
        ("To whom was Poland a Loose-Fish?", ["the Czar"]),
        ("Whose Loose-Fish was Greece?", ["the Turk"]),
        ("What was the name of Columbus's royal master?", None, []),
        ("In what year did Poland become a Loose-Fish to the Czar?", None, ["1492"]),
    ]),
    ("train", "Moby_Dick_White_Whale", "moby_dick.txt", 7833, 7838, "But ere her commander", [
        ("What did the stranger captain ask Ahab whether he had seen?", ["a whale-boat adrift"]),
        ("How did the commander stand up in his boat?", ["with trumpet to mouth"]),
        ("When had the stranger seen the White Whale?", ["yesterday"]),
        ("What was the name of the stranger's ship?", None, []),
        ("How many men were in the missing whale-boat?", None, []),
    ]),
    # ---- train: Jane Austen (Emma, Mansfield Park) ----
    ("train", "Emma_Mr_Knightley", "jane_austen.txt", 64, 68, "The backgammon-table was placed", [
        ("About how old was Mr. Knightley?", ["seven or eight-and-thirty"]),
        ("How far from Highbury did Mr. Knightley live?", ["about a mile"]),
        ("Where did he say that all were well?", ["Brunswick Square"]),
        ("For how many days had Mr. Knightley been away?", None, ["some days"]),
        ("What was the name of Isabella's husband?", None, []),
    ]),
    ("train", "Emma_Mr_Weston", "jane_austen.txt", 123, 128, "Oh no! Mr. Weston certainly would never", [
        ("Who, the speaker insists, would never remarry?", ["Mr. Weston"]),
        ("How long ago did Miss Taylor and the speaker meet him?", ["about four years ago"]),
        ("In which lane did they meet him?", ["Broadway Lane"]),
        ("Why did he borrow the umbrellas?", ["because it began to drizzle"]),
        ("What was the name of Mr. Weston's first wife?", None, ["Miss Taylor"]),
        ("What was the name of Mr. Weston's son?", None, []),
    ]),
    ("train", "Emma_Harriet_Smith", "jane_austen.txt", 236, 241, "As she sat one morning", [
        ("Who sent a note asking to bring Miss Smith?", [("Mrs. Goddard", 0)]),
        ("How old was Miss Smith?", ["seventeen"]),
        ("Why had Emma long been interested in Miss Smith?", ["her beauty"]),
        ("Who was Harriet Smith's father?", None, [("somebody", 0)]),
        ("How many years had Harriet spent at the school?", None, ["several years"]),
        ("What was the name of Emma's house?", None, []),
    ]),
    ("train", "Emma_letter", "jane_austen.txt", 1503, 1509, "However, it was an exceeding good, pretty letter", [
        ("From where was the letter written?", ["Weymouth"]),
        ("What date did the letter bear?", ["Sept. 28th"]),
        ("How was the letter signed?", ["'F. C. Weston Churchill.'"]),
        ("Who cried that the letter was pleasing and proper?", ["Mrs. John Knightley"]),
        ("Who carried the letter to the Westons?", None, []),
        ("How did the letter go on after its greeting?", None, ["'My dear Madam,'"]),
    ]),
    ("train", "Emma_Surry", "jane_austen.txt", 4002, 4009, "Surry is the garden of England.", [
        ("Which county does Mrs. Elton call the garden of England?", [("Surry", 0)]),
        ("Who was silenced?", ["Emma"]),
        ("When have the brother and sister promised to visit?", ["in the spring, or summer at farthest"]),
        ("Where do Mrs. Elton's brother and sister live?", None, [("Surry", 2)]),
        ("How many counties are called the garden of England?", None, ["Many counties"]),
    ]),
    ("train", "Mansfield_Park_Maria_Ward", "jane_austen.txt", 7083, 7087, "About thirty years ago Miss Maria Ward", [
        ("How large a fortune did Miss Maria Ward have?", ["seven thousand pounds"]),
        ("Whom did she win as a husband?", ["Sir Thomas Bertram"]),
        ("In which county was Mansfield Park?", ["Northampton"]),
        ("What was the name of her uncle, the lawyer?", None, []),
        ("How large was Sir Thomas Bertram's income?", None, ["large income"]),
    ]),
    ("train", "Mansfield_Park_Norris", "jane_austen.txt", 7087, 7092, "Miss Ward, at the end of half a dozen years", [
        ("After how long did Miss Ward settle for Mr. Norris?", ["half a dozen years"]),
        ("Roughly what yearly income did Mr. and Mrs. Norris start with?", ["a thousand a year"]),
        ("Whom did Miss Frances marry?", ["a lieutenant of marines"]),
        ("What was the lieutenant's name?", None, []),
        ("How many children did Mr. and Mrs. Norris have?", None, []),
    ]),
    # ---- train: World English Bible ----
    ("train", "World_English_Bible_Colossians", "web_bible_heldout.txt", 450, 453, "Aristarchus, my fellow prisoner", [
        ("Who is the writer's fellow prisoner?", ["Aristarchus"]),
        ("Whose cousin is Mark?", [("Barnabas", 0)]),
        ("What is the other name of the Jesus who greets them?", ["Justus"]),
        ("Who is always striving for them in his prayers?", ["Epaphras"]),
        ("In which city was Aristarchus imprisoned?", None, []),
        ("Whose cousin is Justus?", None, [("Barnabas", 0)]),
    ]),
    ("train", "World_English_Bible_2_Timothy", "web_bible_heldout.txt", 777, 784, "Be diligent to come to me soon", [
        ("To which city did Demas go?", ["Thessalonica"]),
        ("Where had Tychicus been sent?", ["Ephesus"]),
        ("What was Alexander's trade?", ["coppersmith"]),
        ("Why did Titus go to Dalmatia?", None, []),
        ("What was written in the parchments?", None, []),
        ("Where was Mark when the letter was written?", None, []),
    ]),
    ("train", "World_English_Bible_Hebrews", "web_bible_heldout.txt", 963, 967, "For this Melchizedek, king of Salem", [
        ("Of which city was Melchizedek the king?", [("Salem", 0)]),
        ("What does the title 'king of Salem' mean?", ["king of peace"]),
        ("What share did Abraham give Melchizedek?", ["a tenth part"]),
        ("How many kings did Abraham defeat?", None, []),
        ("Where did Melchizedek meet Abraham?", None, []),
    ]),
    ("train", "World_English_Bible_James", "web_bible_heldout.txt", 1268, 1271, "Confess your sins to one another", [
        ("Who prayed that no rain would fall?", ["Elijah"]),
        ("How long did the drought last?", ["three years and six months"]),
        ("What did the earth bring forth once the rain came?", ["its fruit"]),
        ("Where was Elijah when he prayed?", None, []),
        ("Who was king of Israel in Elijah's time?", None, []),
    ]),
    ("train", "World_English_Bible_Revelation_1", "web_bible_heldout.txt", 1603, 1608,
     "“I am the Alpha and the Omega,”", [
        ("On which island was John?", ["Patmos"]),
        ("What did the loud voice behind him resemble?", ["a trumpet"]),
        ("What did he see when he turned around?", ["seven golden lamp stands"]),
        ("How long did John stay on the island?", None, []),
        ("Who sent John to the island?", None, []),
    ]),
    ("train", "World_English_Bible_Revelation_19", "web_bible_heldout.txt", 1923, 1926, "It was given to her", [
        ("What is the fine linen?", ["the righteous acts of the saints"]),
        ("To what are the blessed invited?", ["the wedding supper of the Lamb"]),
        ("What is the testimony of Jesus?", ["the Spirit of Prophecy"]),
        ("Whom must he worship?", [("God", 1)]),
        ("Who wrote the words down?", None, []),
        ("Who gave her the fine linen to wear?", None, []),
    ]),
    ("train", "World_English_Bible_Revelation_21", "web_bible_heldout.txt", 1964, 1970,
     "On the east were three gates", [
        ("How many foundations did the city wall have?", ["twelve foundations"]),
        ("What did the speaker use to measure the city?", ["a golden reed"]),
        ("What was the wall built of?", ["jasper"]),
        ("Whose names were written on the gates?", None, ["twelve names of the twelve Apostles"]),
        ("How many pearls made up the gates?", None, []),
    ]),
    # ---- dev ----
    ("dev", "State_of_the_Union_1803_Louisiana", "sotu.txt", 777, 779, "Should the acquisition of Louisiana", [
        ("How much would acquiring Louisiana add to the public debt?", ["nearly $13 millions", "$13 millions"]),
        ("Most of that new debt falls due after how long?", ["fifteen years", "after fifteen years"]),
        ("What will pay off the debts that already exist?",
         ["the established operation of the sinking fund", "the sinking fund", "sinking fund"]),
        ("What does the speaker hope Congress can meet the interest without?", ["new taxes"]),
        ("What price was paid to France for Louisiana?", None, ["nearly $13 millions"]),
        ("Which territories besides Louisiana were acquired?", None, []),
    ]),
    ("dev", "State_of_the_Union_1828_revenue", "sotu.txt", 3354, 3356, "The amount of duties secured on importations", [
        ("How much duty was secured on importations from January to September?", ["about $22,997,000", "$22,997,000"]),
        ("What is the estimated accruing revenue?", [("$5,000,000", 0)]),
        ("What is the aggregate of the year's duties?", ["near $28,000,000", "$28,000,000"]),
        ("By how much does this exceed last December's estimate?", ["$1,000,000"]),
        ("How much was spent on the Navy?", None, ["$1,000,000"]),
        ("Who made last December's estimate?", None, []),
    ]),
    ("dev", "Moby_Dick_Tranquo", "moby_dick.txt", 6597, 6600, "And as for my exact knowledge of the bones", [
        ("Who was the king of Tranque?", [("Tranquo", 0), "Tranquo, king of Tranque"]),
        ("On what ship was the narrator serving when he went to Tranque?",
         ["the trading-ship Dey of Algiers", "Dey of Algiers"]),
        ("What did the sailors call the king's capital?", ["Bamboo-Town"]),
        ("How many years ago did the narrator visit Tranque?", None, ["years ago"]),
        ("What was the name of the trading-ship's captain?", None, []),
    ]),
    ("dev", "Moby_Dick_Skeleton", "moby_dick.txt", 6648, 6652, "In length, the Sperm Whale’s skeleton at Tranque", [
        ("How long was the skeleton measured at Tranque?", ["seventy-two Feet", ("seventy-two", 0)]),
        ("How long does the narrator reckon the living whale was?", ["ninety feet"]),
        ("What did the chest and spine remind the narrator of?",
         ["the hull of a great ship", "hull of a great ship", "the hull of a great ship new-laid upon the stocks"]),
        ("How many ribs did the skeleton have?", None, [("some twenty", 1)]),
        ("How much did the whale weigh?", None, []),
    ]),
    ("dev", "Moby_Dick_Ahab", "moby_dick.txt", 8460, 8464, "Moby Dick seeks thee not.", [
        ("According to the speaker, who is not seeking the one being addressed?", ["Moby Dick"]),
        ("Whose face could Ahab plainly distinguish?", ["Starbuck’s", "Starbuck’s face"]),
        ("How was the lonely boat impelled?", ["by both oars and canvas", "both oars and canvas"]),
        ("How many men rowed Ahab's boat?", None, []),
        ("What was the name of the vessel Starbuck commanded?", None, []),
    ]),
    ("dev", "Emma_Miss_Fairfax", "jane_austen.txt", 2769, 2773, "Where features were indifferent", [
        ("Whom can he not separate from her complexion?", ["Miss Fairfax"]),
        ("Who said there is no disputing about taste?", ["Emma"]),
        ("At which place is he asked whether he often saw her?", ["at Weymouth", "Weymouth"]),
        ("What gave beauty to indifferent features?", ["a fine complexion", "fine complexion"]),
        ("What colour was Miss Fairfax's hair?", None, []),
        ("How old was Miss Fairfax?", None, []),
    ]),
    ("dev", "Emma_dancing", "jane_austen.txt", 4863, 4867, "Then changing from a frown to a smile", [
        ("Whom did he walk off to find?", ["his father"]),
        ("With whom did he come back?", ["both Mr. and Mrs. Weston", "Mr. and Mrs. Weston"]),
        ("What did he ask when they were to begin?", ["dancing"]),
        ("Where was the ball held?", None, []),
        ("Who was Emma's partner for the first dance?", None, ["his father"]),
    ]),
    ("dev", "Mansfield_Park_quarrel", "jane_austen.txt", 7094, 7097, "To save herself from useless remonstrance", [
        ("To whom did Mrs. Norris send her letter?", ["Fanny"]),
        ("How is the letter Mrs. Norris wrote described?", ["a long and angry letter", "long and angry"]),
        ("Who was a woman of placid and easy temper?", ["Lady Bertram"]),
        ("How many children did Mrs. Price have?", None, []),
        ("In which town did Mrs. Price live?", None, []),
    ]),
    ("dev", "World_English_Bible_Jude", "web_bible_heldout.txt", 1572, 1575, "May mercy, peace, and love", [
        ("What may be multiplied to them?", ["mercy, peace, and love"]),
        ("About what was the writer eager to write?", ["our common salvation", "common salvation"]),
        ("Into what do the ungodly men turn the grace of God?", ["indecency"]),
        ("To whom was the faith once delivered?", ["the saints", "saints"]),
        ("What were the names of the men who crept in?", None, []),
        ("How many men crept in secretly?", None, ["certain men"]),
    ]),
    ("dev", "World_English_Bible_Philippians", "web_bible_heldout.txt", 273, 277, "and that most of the brothers", [
        ("What do the brothers speak without fear?", ["the word of God", "word of God"]),
        ("For the defense of what is he appointed?", ["the Good News", "Good News"]),
        ("Besides good will, out of what do some preach Christ?", ["envy and strife"]),
        ("In which city was the writer in bonds?", None, []),
        ("How many brothers preach out of good will?", None, ["most of the brothers"]),
    ]),
]

MIN_WORDS, MAX_WORDS = 60, 180


@functools.lru_cache(maxsize=None)
def corpus_lines(corpus):
    lines = [l.strip() for l in (REPO / "data" / "corpora" / corpus).read_text(encoding="utf-8").splitlines()]
    return [l for l in lines if l]


def context_of(corpus, first, last, opening, where):
    lines = corpus_lines(corpus)
    if not 0 <= first < last <= len(lines):
        sys.exit(f"{where}: lines [{first}, {last}) are outside {corpus} ({len(lines)} non-blank lines)")
    context = " ".join(lines[first:last])
    if not context.startswith(opening):
        sys.exit(f"{where}: {corpus} lines [{first}, {last}) start '{context[:60]}', expected '{opening}'; "
                 f"the corpus changed: find the passage again and fix its line range")
    words = len(context.split())
    if not MIN_WORDS <= words <= MAX_WORDS:
        sys.exit(f"{where}: the passage has {words} words, expected {MIN_WORDS}-{MAX_WORDS}; change its line range")
    return context


def locate(context, answer, where):
    text, k = (answer if isinstance(answer, tuple) else (answer, None))
    starts = []
    i = context.find(text)
    while i >= 0:
        starts.append(i)
        i = context.find(text, i + 1)
    if not starts:
        sys.exit(f"{where}: answer '{text}' does not occur in the context")
    if k is None and len(starts) > 1:
        sys.exit(f"{where}: answer '{text}' occurs {len(starts)} times; give (text, k)")
    if k is not None and k >= len(starts):
        sys.exit(f"{where}: answer '{text}' occurs {len(starts)} times; occurrence {k} does not exist")
    return {"text": text, "answer_start": starts[k or 0]}


def main():
    out = {"train": [], "dev": []}
    seen, titles, spans = set(), set(), []
    for split, title, corpus, first, last, opening, questions in PASSAGES:
        if title in titles:
            sys.exit(f"{title}: two passages have this title")
        titles.add(title)
        # No passage may share a line with another, so no text is in both splits.
        for other, c, a, b in spans:
            if c == corpus and first < b and a < last:
                sys.exit(f"{title}: {corpus} lines [{first}, {last}) overlap {other}'s [{a}, {b})")
        spans.append((title, corpus, first, last))
        context = context_of(corpus, first, last, opening, f"{split}/{title}")
        qas = []
        for q in questions:
            question = q[0]
            qid = hashlib.sha1(f"{split}:{title}:{question}".encode("utf-8")).hexdigest()[:24]
            if qid in seen:
                sys.exit(f"{title}: question '{question}' appears twice")
            seen.add(qid)
            where = f"{split}/{title}/{question}"
            if q[1] is None:
                entry = {"id": qid, "question": question, "answers": [], "is_impossible": True}
                if q[2]:
                    entry["plausible_answers"] = [locate(context, a, where) for a in q[2]]
            else:
                if split == "train" and len(q[1]) != 1:
                    sys.exit(f"{where}: train questions have one answer")
                entry = {"id": qid, "question": question, "answers": [locate(context, a, where) for a in q[1]],
                         "is_impossible": False}
            qas.append(entry)
        out[split].append({"title": title, "paragraphs": [{"context": context, "qas": qas}]})
    folder = REPO / "data" / "squad" / "public_domain"
    folder.mkdir(parents=True, exist_ok=True)
    for split, data in out.items():
        doc = {"version": "v2.0", "data": data}
        (folder / f"{split}-v2.0.json").write_text(json.dumps(doc, ensure_ascii=False, indent=1) + "\n",
                                                   encoding="utf-8")
        n = sum(len(p["qas"]) for a in data for p in a["paragraphs"])
        ans = sum(1 for a in data for p in a["paragraphs"] for q in p["qas"] if not q["is_impossible"])
        golds = [len(q["answers"]) for a in data for p in a["paragraphs"] for q in p["qas"] if not q["is_impossible"]]
        print(f"{split}: {len(data)} passages, {n} questions ({ans} answerable, {n - ans} unanswerable), "
              f"{sum(golds) / max(1, len(golds)):.2f} gold answers per answerable question")


if __name__ == "__main__":
    main()
