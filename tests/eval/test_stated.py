"""states_drums: which captions state drums or their absence, in template and paraphrase wordings."""
from eval.paraphrase import DRUM_NEGATIONS, DRUMS_NO, DRUMS_YES
from eval.stated import states_drums


def test_template_and_paraphrase_drum_phrases_are_stated_and_silent_captions_are_not():
    stated = ["Guitar and banjo perform a folk tune at 220 BPM, with a steady drum beat.",
              "Instrumental air for two fiddles, backed by drums.", "jig, synth lead, no drums",
              "A chorale on a brass quintet, with no percussion.", "Picture a horn section, over kick, snare and hi-hat."]
    silent = ["Synth lead and bass, playing a Celtic dance tune at 59 BPM; the feel is unhurried.",
              "Picture a solo oboe at around 96 beats per minute, with a steady pulse.", "Drumming up interest: a fiddle"]
    assert states_drums(stated) == [True] * len(stated)
    assert states_drums(silent) == [False] * len(silent)
    phrases = [p for pair in DRUMS_YES + DRUMS_NO for p in pair] + list(DRUM_NEGATIONS)
    assert all(states_drums(phrases))


def test_drums_by_word_groups_the_prompts_that_ask_for_drums():
    from eval.stated import drum_word, drums_by_word

    assert [drum_word(c) for c in ("Over kick, snare and hi-hat.", "A Drummer lays down a beat.", "a fiddle")] == [
        "kick", "drummer", None]
    judged = [{"prompt_set": "paraphrase", "caption": "over kick, snare and hi-hat", "asked": {"drums": "yes"},
               "judged": {"drums": ["no", "no", "yes"]}},
              {"prompt_set": "paraphrase", "caption": "Kick and snare", "asked": {"drums": "yes"},
               "judged": {"drums": ["no", "no", "no"]}},
              {"prompt_set": "template", "caption": "a jig for fiddle", "asked": {"drums": "yes"},
               "judged": {"drums": ["no", "no", "no"]}},
              {"prompt_set": "template", "caption": "a jig, no drums", "asked": {"drums": "no"},
               "judged": {"drums": ["yes", "no", "no"]}}]
    rows = {(r["prompt_set"], r["drum_word"]): r for r in drums_by_word(judged)}
    assert set(rows) == {("paraphrase", "kick"), ("template", None)}
    assert (rows[("paraphrase", "kick")]["prompts"], rows[("paraphrase", "kick")]["clips"]) == (2, 6)
    assert rows[("paraphrase", "kick")]["judged_drums"] == 1 / 6 and rows[("template", None)]["judged_drums"] == 0.0
