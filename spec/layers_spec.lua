-- layers_spec.lua: tools/check-layers.lua (make check-layers) holds the
-- layers to their rules, and fails when a file crosses a line.

local BUILD = os.getenv("CORUN_BUILD") or "build"

describe("make check-layers", function()
  it("passes on the tree as it is, sources and objects", function()
    local status, out = sh("lua5.4 tools/check-layers.lua . " ..
                           shell_quote(BUILD .. "/obj"))
    assert.equal(0, status, out)
    assert.equal("check-layers: ok\n", out)
  end)

  it("fails on a file of host/ that includes a header of bindings/",
     function()
    local tmp = tmpdir()
    local status, out = sh(("cp -r host io bindings %s && printf " ..
      "'#include \"../bindings/corunL.h\"\\n' > %s/host/planted.c && " ..
      "lua5.4 tools/check-layers.lua %s"):format(shell_quote(tmp),
      shell_quote(tmp), shell_quote(tmp)))
    os.execute("rm -rf " .. shell_quote(tmp))
    assert.equal(1, status, out)
    assert.matches("host/planted%.c:1: includes %.%./bindings/corunL%.h " ..
                   "%(core may not use bindings%)", out)
  end)

  it("fails on a file of io/ that includes a header of bindings/",
     function()
    local tmp = tmpdir()
    local status, out = sh(("cp -r host io bindings %s && printf " ..
      "'/* x */\\n#include \"../bindings/corunio.h\"\\n' > %s/io/planted.h " ..
      "&& lua5.4 tools/check-layers.lua %s"):format(shell_quote(tmp),
      shell_quote(tmp), shell_quote(tmp)))
    os.execute("rm -rf " .. shell_quote(tmp))
    assert.equal(1, status, out)
    assert.matches("io/planted%.h:2: includes %.%./bindings/corunio%.h", out)
  end)

  it("fails on an object of the inner core that calls into io/ or the " ..
     "bindings", function()
    local tmp = tmpdir()
    local status, out = sh(("cp -r %s %s/obj && printf '%s' > %s/p.c && " ..
      "cc -c %s/p.c -o %s/obj/host/sched.o && " ..
      "lua5.4 tools/check-layers.lua . %s/obj"):format(
      shell_quote(BUILD .. "/obj"), shell_quote(tmp),
      "int corun__io_ready(void *);\\nint f(void) { return " ..
      "corun__io_ready(0); }\\n", shell_quote(tmp), shell_quote(tmp),
      shell_quote(tmp), shell_quote(tmp)))
    os.execute("rm -rf " .. shell_quote(tmp))
    assert.equal(1, status, out)
    assert.matches("host/sched%.c: calls corun__io_ready of io/io%.c " ..
                   "%(core may not use io%)", out)
  end)
end)
