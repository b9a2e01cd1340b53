"""Repository rule that exposes a Debian system library to Bazel, offline.

Headers come from /usr/include (already on the compiler's search path); link flags come
from pkg-config at fetch time, so the Abseil shared-library list always matches the
installed packages.
"""

def _system_library_impl(ctx):
    linkopts = list(ctx.attr.extra_linkopts)
    if ctx.attr.pkg_config:
        result = ctx.execute(["pkg-config", "--libs"] + ctx.attr.pkg_config)
        if result.return_code != 0:
            fail("pkg-config could not find %s (run tools/bootstrap.sh): %s" %
                 (ctx.attr.pkg_config, result.stderr))
        linkopts = result.stdout.strip().split(" ") + linkopts
    ctx.file("WORKSPACE", 'workspace(name = "%s")\n' % ctx.name)
    ctx.file("BUILD", """
cc_library(
    name = "{name}",
    linkopts = {linkopts},
    visibility = ["//visibility:public"],
)
""".format(name = ctx.attr.target, linkopts = repr([o for o in linkopts if o])))

system_library = repository_rule(
    implementation = _system_library_impl,
    attrs = {
        "target": attr.string(mandatory = True),
        "pkg_config": attr.string_list(),
        "extra_linkopts": attr.string_list(),
    },
    local = True,
)
