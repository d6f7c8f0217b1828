#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Writes data/squad/public_domain/{train,dev}-v2.0.json: a small SQuAD 2.0-format question-answering set, written by
hand for this repository, on public-domain passages from the repository's own corpora (data/corpora: Melville's
Moby Dick, Jane Austen's Emma, early State of the Union addresses, the World English Bible). It is the default data
of the span probes in pipelines/layer-probes.yaml: a fixture that shows the pipeline working, not a benchmark.

  python3 scripts/make_squad_fixture.py

Rules (python3 standard library only; a rerun writes the same bytes):
  - A context is lines [first, last) of a corpus file's non-blank lines (stripped), joined with single spaces.
  - Questions are in this file. An answer is given as its text, or as (text, k) for the k-th occurrence (0-based)
    when the text occurs more than once in the context; its answer_start (characters, as SQuAD counts them) is
    computed here, and the script stops if the text does not occur, or occurs more than once without k.
  - Unanswerable questions (SQuAD 2.0) have "is_impossible": true, "answers": [] and, where a span of the passage
    looks like an answer but is not one, "plausible_answers".
  - Dev questions may have several gold answers (the same span with or without its article or a leading word), as
    SQuAD's dev annotators give them; train questions have one.
  - Question ids are the first 24 hex digits of sha1("<split>:<title>:<question>").
"""
import hashlib
import json
import pathlib
import sys

REPO = pathlib.Path(__file__).resolve().parent.parent

# (split, title, corpus file, first line, last line (exclusive), questions). A question is
# (question, [answers]) or (question, None, [plausible answers]) when unanswerable.
PASSAGES = [
    ("train", "State_of_the_Union_1827_revenue", "sotu.txt", 3228, 3230, [
        ("Until what date were the duties on imported merchandise counted?", ["September 30th, 1827"]),
        ("What amount of duties was secured from the commencement of the year?", ["$21,226,000"]),
        ("What sum total do the secured and the probable duties form?", ["$27,000,000"]),
        ("At what amount are the receipts of the ensuing year estimated?", ["$22,300,000"]),
        ("How much was spent on the Army during the year?", None, ["$22,300,000"]),
        ("Who was the Secretary of the Treasury?", None, []),
    ]),
    ("train", "State_of_the_Union_1827_navy", "sotu.txt", 3090, 3093, [
        ("The Navy Department's appropriations come to an aggregate of upward of what sum?", ["$3,000,000"]),
        ("On what date did Congress pass the act for the gradual increase of the Navy?", ["April 29th, 1816"]),
        ("How much did Congress appropriate each year for the increase of the Navy?", ["$1,000,000"]),
        ("For how long was the yearly sum for the Navy appropriated?", ["eight years"]),
        ("How many ships did the Navy have in 1816?", None, ["eight"]),
        ("Who commanded the Navy during the late war?", None, []),
    ]),
    ("train", "State_of_the_Union_revenue_collection", "sotu.txt", 3639, 3642, [
        ("What is the chief cause of the losses in collecting the revenue?", ["the long credits"]),
        ("From beyond which cape were the goods on long credit imported?", ["the Cape of Good Hope"]),
        ("What is the longest credit the passage proposes?", ["12 months"]),
        ("Who should provide ware-houses for the goods offered in deposit?", ["Government"]),
        ("How much revenue was lost because of the long credits?", None, []),
        ("Which port received the most goods from beyond the Cape?", None, []),
    ]),
    ("train", "State_of_the_Union_Congress", "sotu.txt", 2934, 2938, [
        ("How many members did the House at first consist of?", ["65"]),
        ("How many members does the Senate now have?", ["48"]),
        ("How many members did the Senate at first consist of?", ["26"]),
        ("Which department is, even more than the executive, confined to its primitive organization?",
         ["the judiciary departments"]),
        ("How many judges sit on the Supreme Court?", None, ["48"]),
    ]),
    ("train", "State_of_the_Union_treaties", "sotu.txt", 3156, 3158, [
        ("On what date were the two conventions concluded?", ["August 6th, 1827"]),
        ("Between which two countries were the treaties of peace made?", ["the United States and Great Britain"]),
        ("Over how many degrees of latitude does the boundary line extend?", ["nearly 20 degrees"]),
        ("Which war did the treaties of peace end?", ["the war of our independence"]),
        ("Who signed the conventions for Great Britain?", None, []),
    ]),
    ("train", "Moby_Dick_Cadiz", "moby_dick.txt", 624, 627, [
        ("In which country is Cadiz?", ["Spain"]),
        ("What is the modern name of Joppa?", ["Jaffa"]),
        ("How far westward of Joppa is Tarshish?", ["more than two thousand miles"]),
        ("Just outside which straits does Tarshish lie?", ["the Straits of Gibraltar"]),
        ("In what year did Jonah sail from Joppa?", None, []),
        ("What was the name of Jonah's ship?", None, ["Tarshish"]),
    ]),
    ("train", "Moby_Dick_Bildad", "moby_dick.txt", 1623, 1629, [
        ("Who was the chief mate?", ["Starbuck"]),
        ("Whom did he address as his old shipmate?", ["Captain Bildad"]),
        ("Which yard did he order to be backed?", ["the main-yard"]),
        ("How old was Captain Bildad?", None, []),
        ("What was the name of the boat that came alongside?", None, []),
    ]),
    ("train", "Moby_Dick_Loose_Fish", "moby_dick.txt", 5832, 5839, [
        ("Who struck the Spanish standard in America?", ["Columbus"]),
        ("In what year was America a Loose-Fish for Columbus?", ["1492"]),
        ("What was Poland to?", ["the Czar"]),
        ("What was Greece to?", ["the Turk"]),
        ("What was the name of Columbus's royal master?", None, []),
    ]),
    ("train", "Moby_Dick_White_Whale", "moby_dick.txt", 7833, 7838, [
        ("What did the stranger captain ask Ahab whether he had seen?", ["a whale-boat adrift"]),
        ("How did the commander stand up in his boat?", ["with trumpet to mouth"]),
        ("When had the stranger seen the White Whale?", ["yesterday"]),
        ("What was the name of the stranger's ship?", None, []),
        ("How many men were in the missing whale-boat?", None, []),
    ]),
    ("train", "Emma_Mr_Weston", "jane_austen.txt", 123, 128, [
        ("Who would certainly never marry again?", ["Mr. Weston"]),
        ("How long ago did Miss Taylor and the speaker meet him?", ["about four years ago"]),
        ("In which lane did they meet him?", ["Broadway Lane"]),
        ("How many umbrellas did he borrow for them?", ["two umbrellas"]),
        ("Why did he borrow the umbrellas?", ["because it began to drizzle"]),
        ("What was the name of Mr. Weston's first wife?", None, ["Miss Taylor"]),
    ]),
    ("train", "Emma_letter", "jane_austen.txt", 1503, 1509, [
        ("From where was the letter written?", ["Weymouth"]),
        ("What date did the letter bear?", ["Sept. 28th"]),
        ("How was the letter signed?", ["'F. C. Weston Churchill.'"]),
        ("Who cried that the letter was pleasing and proper?", ["Mrs. John Knightley"]),
        ("Who carried the letter to the Westons?", None, []),
    ]),
    ("train", "Emma_Surry", "jane_austen.txt", 4002, 4009, [
        ("Which county does Mrs. Elton call the garden of England?", [("Surry", 0)]),
        ("Who was silenced?", ["Emma"]),
        ("When have the brother and sister promised to visit?", ["in the spring, or summer at farthest"]),
        ("Where do Mrs. Elton's brother and sister live?", None, [("Surry", 2)]),
        ("How many counties are called the garden of England?", None, ["Many counties"]),
    ]),
    ("train", "World_English_Bible_Colossians", "web_bible_heldout.txt", 450, 453, [
        ("Who is the writer's fellow prisoner?", ["Aristarchus"]),
        ("Whose cousin is Mark?", ["Barnabas"]),
        ("What is the other name of the Jesus who greets them?", ["Justus"]),
        ("Who is always striving for them in his prayers?", ["Epaphras"]),
        ("In which city was Aristarchus imprisoned?", None, []),
    ]),
    ("train", "World_English_Bible_Revelation", "web_bible_heldout.txt", 1923, 1926, [
        ("What is the fine linen?", ["the righteous acts of the saints"]),
        ("To what are the blessed invited?", ["the wedding supper of the Lamb"]),
        ("What is the testimony of Jesus?", ["the Spirit of Prophecy"]),
        ("Whom must he worship?", [("God", 1)]),
        ("Who wrote the words down?", None, []),
    ]),
    ("dev", "State_of_the_Union_1828_revenue", "sotu.txt", 3354, 3356, [
        ("How much duty was secured on importations from January to September?", ["about $22,997,000", "$22,997,000"]),
        ("What is the estimated accruing revenue?", [("$5,000,000", 0)]),
        ("What is the aggregate of the year's duties?", ["near $28,000,000", "$28,000,000"]),
        ("By how much does this exceed last December's estimate?", ["$1,000,000"]),
        ("How much was spent on the Navy?", None, ["$1,000,000"]),
        ("Who made last December's estimate?", None, []),
    ]),
    ("dev", "Moby_Dick_Ahab", "moby_dick.txt", 8460, 8464, [
        ("Who does not seek thee?", ["Moby Dick"]),
        ("Whose face could Ahab plainly distinguish?", ["Starbuck’s", "Starbuck’s face"]),
        ("How was the lonely boat impelled?", ["by both oars and canvas", "both oars and canvas"]),
        ("How many men rowed Ahab's boat?", None, []),
        ("What was the name of the vessel Starbuck commanded?", None, []),
    ]),
    ("dev", "Emma_Miss_Fairfax", "jane_austen.txt", 2769, 2773, [
        ("Whom can he not separate from her complexion?", ["Miss Fairfax"]),
        ("Who said there is no disputing about taste?", ["Emma"]),
        ("Where might he have seen her often?", ["at Weymouth", "Weymouth"]),
        ("What gave beauty to indifferent features?", ["a fine complexion", "fine complexion"]),
        ("What colour was Miss Fairfax's hair?", None, []),
        ("How old was Miss Fairfax?", None, []),
    ]),
    ("dev", "Emma_dancing", "jane_austen.txt", 4863, 4867, [
        ("Whom did he walk off to find?", ["his father"]),
        ("With whom did he come back?", ["both Mr. and Mrs. Weston", "Mr. and Mrs. Weston"]),
        ("What did he ask when they were to begin?", ["dancing"]),
        ("Where was the ball held?", None, []),
        ("Who was Emma's partner for the first dance?", None, ["his father"]),
    ]),
    ("dev", "World_English_Bible_Jude", "web_bible_heldout.txt", 1572, 1575, [
        ("What may be multiplied to them?", ["mercy, peace, and love"]),
        ("About what was the writer eager to write?", ["our common salvation", "common salvation"]),
        ("Into what do the ungodly men turn the grace of God?", ["indecency"]),
        ("What were the names of the men who crept in?", None, []),
        ("To whom was the faith once delivered?", ["the saints", "saints"]),
    ]),
    ("dev", "World_English_Bible_Philippians", "web_bible_heldout.txt", 273, 277, [
        ("What do the brothers speak without fear?", ["the word of God", "word of God"]),
        ("For the defense of what is he appointed?", ["the Good News", "Good News"]),
        ("Out of what do some preach Christ insincerely?", ["envy and strife"]),
        ("In which city was the writer in bonds?", None, []),
        ("How many brothers preach out of good will?", None, ["most of the brothers"]),
    ]),
]


def context_of(corpus, first, last):
    lines = [l.strip() for l in (REPO / "data" / "corpora" / corpus).read_text(encoding="utf-8").splitlines()]
    lines = [l for l in lines if l]
    return " ".join(lines[first:last])


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
    seen = set()
    for split, title, corpus, first, last, questions in PASSAGES:
        context = context_of(corpus, first, last)
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
