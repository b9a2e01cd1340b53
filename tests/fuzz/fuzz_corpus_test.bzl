"""A cc_test that replays a fuzz target's checked-in corpus."""

def fuzz_corpus_test(name, deps, copts = [], local_defines = []):
    """Replays corpus/<name>/* through <name>_fuzzer.cc.

    Args:
      name: the target's name, as tools/fuzz.sh knows it.
      deps: what <name>_fuzzer.cc needs.
      copts: compiler options for it.
      local_defines: defines for it.
    """
    native.cc_test(
        name = name + "_corpus_test",
        srcs = [
            name + "_fuzzer.cc",
            "corpus_replay_main.cc",
        ],
        args = ["tests/fuzz/corpus/" + name],
        data = native.glob(["corpus/%s/*" % name]),
        copts = copts,
        local_defines = local_defines,
        deps = deps + ["@absl"],
    )
