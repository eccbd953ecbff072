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
