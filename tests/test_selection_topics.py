from collections import Counter
from pathlib import PurePosixPath

import pytest

from feeder.config import TopicSettings
from feeder.selection.topics import TopicIndex, slug_for, topic_key


@pytest.mark.parametrize(
    "name",
    ["../../etc", "..", "/etc/passwd", "CON", "con.txt", "nul", "COM1", "", "   ", "x" * 300, "a/b\\c",
     "日本語", "🙂🙃", "Ünïcödé Tøpic", "%2e%2e%2f", "\x00evil"],
)
def test_slugs_are_single_safe_path_segments(name):
    slug = slug_for(topic_key(name))
    assert slug and len(slug) <= 80
    assert PurePosixPath(slug).name == slug and slug not in (".", "..")
    assert all(c.isascii() and (c.islower() or c.isdigit() or c == "-") for c in slug)
    assert slug.split(".")[0] not in {"con", "prn", "aux", "nul", "com1", "lpt1"}


def test_transliteration_and_case_insensitivity():
    assert slug_for(topic_key("Künstliche Intelligenz")) == "kunstliche-intelligenz"
    assert topic_key("  Machine   LEARNING ") == topic_key("machine learning")


def test_aliases_and_configured_titles():
    ai = TopicSettings(title="Artificial Intelligence", aliases=("A.I.", "Machine Learning"))
    index = TopicIndex({"AI": ai}, "Site")
    assert index.key("a.i.") == index.key("machine learning") == index.key("ai") == "ai"
    topics = index.build({"ai": Counter({"ai": 3, "A.I.": 1})})
    assert topics["ai"].name == "AI" and topics["ai"].title == "Artificial Intelligence"


def test_display_name_is_the_most_common_spelling():
    topics = TopicIndex({}, "Site").build({"space": Counter({"space": 1, "Space": 4, "SPACE": 4})})
    assert topics["space"].name == "SPACE"  # tie on count: sorted order decides
    assert topics["space"].slug == "space"


def test_slug_collisions_are_resolved_deterministically():
    index = TopicIndex({}, "Site")
    one = index.build({"c": Counter(["C"]), "c++": Counter(["C++"])})
    two = index.build({"c++": Counter(["C++"]), "c": Counter(["C"])})
    assert one["c"].slug == "c"  # the topic literally named like the slug keeps it
    assert one["c++"].slug.startswith("c-") and one["c++"].slug != "c"
    assert {k: t.slug for k, t in one.items()} == {k: t.slug for k, t in two.items()}


def test_configured_slug_is_used():
    topics = TopicIndex({"Weltraum": TopicSettings(slug="space")}, "Site").build({})
    assert topics["weltraum"].slug == "space"
