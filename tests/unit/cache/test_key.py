"""Cache keys: every input that decides an answer changes the key; nothing else does."""

from __future__ import annotations

from pytest_llmtrust.backends.base import GenerationParams
from pytest_llmtrust.cache.key import cacheable, choice_key, generation_key, sample_indices

GREEDY = GenerationParams(max_new_tokens=16)
SEEDED = GenerationParams(max_new_tokens=16, temperature=0.7, seed=3)


def key(**change: object) -> str:
    args: dict[str, object] = {"model": "m", "steer": None, "params": GREEDY, "prompt": "hi", "sample": 0}
    args.update(change)
    return generation_key(**args)  # type: ignore[arg-type]


def test_each_input_changes_the_key() -> None:
    base = key()
    variants = [
        key(model="m2"),
        key(steer="steer:abc"),
        key(params=GREEDY.replace(max_new_tokens=17)),
        key(params=GREEDY.replace(stop=("\n",))),
        key(params=SEEDED),
        key(params=SEEDED.replace(seed=4)),
        key(prompt="hi!"),
        key(prompt=[{"role": "system", "content": "x"}, {"role": "user", "content": "hi"}]),
        key(sample=1),
    ]
    assert len({base, *variants}) == len(variants) + 1


def test_a_string_and_its_single_user_message_share_a_key() -> None:
    assert key(prompt="hi") == key(prompt=[{"role": "user", "content": "hi"}])


def test_repeated_samples_get_their_own_index_and_greedy_ones_collapse() -> None:
    prompts = ["a", "b", "a", "a", [{"role": "user", "content": "b"}]]
    assert sample_indices(prompts, SEEDED) == [0, 0, 1, 2, 1]
    assert sample_indices(prompts, GREEDY) == [0, 0, 0, 0, 0]


def test_unseeded_sampling_is_never_cacheable() -> None:
    assert cacheable(GREEDY)
    assert cacheable(SEEDED)
    assert not cacheable(GenerationParams(temperature=0.7))


def test_choice_keys_depend_on_labels_and_differ_from_generation_keys() -> None:
    a = choice_key("m", None, "q", ["A", "B"])
    assert a != choice_key("m", None, "q", ["A", "B", "C"])
    assert a != choice_key("m", "steer:x", "q", ["A", "B"])
    assert a != key(prompt="q")
