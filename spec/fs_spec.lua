-- corun.fs and corun.File, on a fresh temporary directory per spec.
local corun = require "corun"

local dir  -- the spec's directory (before_each), removed after it

before_each(function()
  dir = os.tmpname()
  os.remove(dir)
  assert(os.execute("mkdir " .. shell_quote(dir)))
end)

after_each(function()
  os.execute("chmod -R u+rwx " .. shell_quote(dir) .. " 2>/dev/null")
  os.execute("rm -rf " .. shell_quote(dir))
end)

-- A path in the spec's directory.
local function at(name) return dir .. "/" .. name end

-- Write and read files with the standard io library (no runtime needed).
local function put(path, data)
  local f = assert(io.open(path, "wb"))
  f:write(data)
  f:close()
end

local function get(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local s = f:read("a")
  f:close()
  return s
end

local function sh(cmd) assert(os.execute(cmd)) end

-- Root reads and writes files whatever their permissions.
local function is_root()
  if os.getenv("USER") == "root" then return true end
  local p = io.popen("id -u")
  local id = p:read("l")
  p:close()
  return id == "0"
end

-- How many descriptors this process has open (Linux), or nil.  The first
-- call runs a runtime first: libuv opens a few descriptors for good at its
-- first use in a process (thread pool, signal pipe).
local warmed = false
local function open_fds()
  local stat = io.open("/proc/self/stat")
  if not stat then return nil end
  if not warmed and not pcall(corun.task_id) then  -- outside a runtime
    warmed = true
    run(function() corun.fs.stat("/") end)
  end
  local pid = stat:read("n")
  stat:close()
  local list, n = os.tmpname(), 0  -- not io.popen: its pipe is racy
  os.execute("ls -1 /proc/" .. pid .. "/fd >" .. shell_quote(list))
  for _ in io.lines(list) do n = n + 1 end
  os.remove(list)
  return n
end

-- In a task: wait (real time, up to 5 s: generous for a busy machine)
-- until this process has 'n' descriptors open again, as the thread pool
-- finishes the closes under way.  Does nothing when 'n' is nil.
local function fds_back_to(n)
  if not n then return end
  local deadline = corun.now() + 5
  while open_fds() ~= n and corun.now() < deadline do corun.sleep(0.01) end
end

-- 'n' bytes of every byte value, zero bytes included.
local function binary(n)
  local t = {}
  for i = 1, 256 do t[i] = string.char(i - 1) end
  local all = table.concat(t)
  return all:rep(n // 256 + 1):sub(1, n)
end

-- The names in 'path', sorted.
local function names(path)
  local t = {}
  local p = io.popen("ls -1A " .. shell_quote(path))
  for l in p:lines() do t[#t + 1] = l end
  p:close()
  table.sort(t)
  return t
end

describe("corun.fs.read_file", function()
  it("returns the contents of a file", function()
    put(at("a.txt"), "hello\nworld\n")
    assert.equal("hello\nworld\n",
                 run(function() return corun.fs.read_file(at("a.txt")) end))
  end)

  it("returns binary data with zero bytes unchanged", function()
    local data = binary(70000)
    put(at("bin"), data)
    local got = run(function() return corun.fs.read_file(at("bin")) end)
    assert.equal(#data, #got)
    assert.is_true(data == got)
  end)

  it("reads a 5 MB file whole", function()
    local data = binary(5 * 1024 * 1024 + 17)
    put(at("big"), data)
    local got = run(function() return corun.fs.read_file(at("big")) end)
    assert.equal(#data, #got)
    assert.is_true(data == got)
  end)

  it("returns an empty string for an empty file", function()
    put(at("empty"), "")
    assert.equal("", run(function() return corun.fs.read_file(at("empty")) end))
  end)

  it("reads a file whose size the system does not tell (/proc)", function()
    local got = run(function()
      return corun.fs.read_file("/proc/self/status")
    end)
    assert.truthy(got:find("^Name:"))
  end)

  it("returns nil and ENOENT naming the path for a missing file", function()
    local v, err = run(function()
      return corun.fs.read_file(at("missing.txt"))
    end)
    assert.is_nil(v)
    assert.equal("ENOENT: no such file or directory (" .. at("missing.txt")
                 .. ")", err)
  end)

  it("returns nil and EACCES for a file it may not read", function()
    if is_root() then return end  -- root reads it anyway
    put(at("secret"), "x")
    sh("chmod 000 " .. shell_quote(at("secret")))
    local v, err = run(function() return corun.fs.read_file(at("secret")) end)
    assert.is_nil(v)
    assert.equal("EACCES: permission denied (" .. at("secret") .. ")", err)
  end)

  it("returns nil and EISDIR for a directory", function()
    local v, err = run(function() return corun.fs.read_file(dir) end)
    assert.is_nil(v)
    assert.equal("EISDIR: illegal operation on a directory (" .. dir .. ")",
                 err)
  end)

  it("suspends only the calling task", function()
    put(at("f"), "data")
    local s = shared()
    local seen = run(function()
      local h = corun.spawn(function() SHARED.ran = true end)
      assert(corun.fs.read_file(at("f")))
      local seen = SHARED.ran
      h:await()
      return seen
    end)
    assert.is_true(seen)
    assert.is_true(s.ran)
  end)

  it("is cancelled by corun.timeout without leaking", function()
    put(at("big"), binary(8 * 1024 * 1024))
    local before = open_fds()
    local ok, err, again = run(function()
      local ok, err = corun.timeout(0, corun.fs.read_file, at("big"))
      -- the task goes on; the file is still readable
      return ok, err, #assert(corun.fs.read_file(at("big")))
    end)
    assert.is_false(ok)
    assert.equal("deadline has elapsed", err)
    assert.equal(8 * 1024 * 1024, again)
    if before then assert.equal(before, open_fds()) end
  end)

  it("leaves nothing behind when the runtime ends during a read",
     function()
    put(at("big"), binary(8 * 1024 * 1024))
    local before = open_fds()
    run_leaving(function(path)
      corun.spawn(corun.fs.read_file, path)
      corun.yield_now()  -- it starts, then the main task ends
    end, at("big"))
    if before then assert.equal(before, open_fds()) end
  end)

  it("serves 200 tasks reading at once, each its own file", function()
    for i = 1, 200 do put(at("f" .. i), ("%d:"):format(i):rep(i)) end
    local bad = run(function(dir)
      local set = corun.JoinSet()
      for i = 1, 200 do
        set:spawn(function(path, i)
          return corun.fs.read_file(path) == ("%d:"):format(i):rep(i)
        end, dir .. "/f" .. i, i)
      end
      local bad = 0
      for _, ok in ipairs(set:join_all()) do
        if ok ~= true then bad = bad + 1 end
      end
      return bad
    end, dir)
    assert.equal(0, bad)
  end)

  it("raises for a path that is not a string", function()
    local ok, err = run(function() return pcall(corun.fs.read_file) end)
    assert.is_false(ok)
    assert.equal("corun.fs.read_file: bad argument #1 (string expected, got "
                 .. "no value)", err)
  end)

  it("raises for a path with a zero byte", function()
    local ok, err = run(function()
      return pcall(corun.fs.read_file, "a\0b")
    end)
    assert.is_false(ok)
    assert.equal("corun.fs.read_file: bad argument #1 (path contains a zero "
                 .. "byte)", err)
  end)

  it("raises outside a task", function()
    local ok, err = pcall(corun.fs.read_file, at("x"))
    assert.is_false(ok)
    assert.equal("corun.fs.read_file: must be called from a task (inside "
                 .. "corun.run)", err)
  end)
end)

describe("corun.fs.write_file", function()
  it("returns true and creates the file; read_file gives it back", function()
    local ok, got = run(function()
      local ok = corun.fs.write_file(at("new.txt"), "some text")
      return ok, corun.fs.read_file(at("new.txt"))
    end)
    assert.is_true(ok)
    assert.equal("some text", got)
  end)

  it("replaces the whole contents of a longer file", function()
    put(at("f"), ("x"):rep(1000))
    run(function() assert(corun.fs.write_file(at("f"), "short")) end)
    assert.equal("short", get(at("f")))
  end)

  it("round-trips binary data and 5 MB, plain and atomic", function()
    local small, big = binary(1000), binary(5 * 1024 * 1024)
    local same = run(function()
      local same = {}
      for i, data in ipairs { small, big, "" } do
        for _, atomic in ipairs { false, true } do
          local path = at(("f%d%s"):format(i, tostring(atomic)))
          assert(corun.fs.write_file(path, data, { atomic = atomic }))
          same[#same + 1] = corun.fs.read_file(path) == data
        end
      end
      return same
    end)
    assert.same({ true, true, true, true, true, true }, same)
    assert.equal(#big, #get(at("f2true")))
  end)

  it("fails with ENOENT when the directory does not exist", function()
    local v, err = run(function()
      return corun.fs.write_file(at("nodir/f"), "x")
    end)
    assert.is_nil(v)
    assert.equal("ENOENT: no such file or directory (" .. at("nodir/f") .. ")",
                 err)
  end)

  it("atomic: the target holds its old contents until the rename",
     function()
    local old, new = ("old "):rep(1000), binary(5 * 1024 * 1024)
    put(at("t"), old)
    local seen = run(function()
      local h = corun.spawn(function(path, data)
        return corun.fs.write_file(path, data, { atomic = true })
      end, at("t"), new)
      local seen = { old = 0, new = 0, other = 0 }
      while not h:is_finished() do
        local now = get(at("t"))
        local k = now == old and "old" or now == new and "new" or "other"
        seen[k] = seen[k] + 1
        corun.sleep(0.0005)
      end
      assert.same({ true, true }, { h:await() })
      return seen
    end)
    assert.equal(0, seen.other)
    assert.is_true(seen.old > 0)
    assert.equal(new, get(at("t")))
  end)

  it("atomic: leaves no temporary file behind", function()
    put(at("t"), "old")
    run(function()
      for i = 1, 5 do
        assert(corun.fs.write_file(at("t"), "v" .. i, { atomic = true }))
      end
    end)
    assert.same({ "t" }, names(dir))
    assert.equal("v5", get(at("t")))
  end)

  it("atomic: keeps the permission bits of the file it replaces", function()
    put(at("t"), "old")
    sh("chmod 640 " .. shell_quote(at("t")))
    local mode = run(function()
      assert(corun.fs.write_file(at("t"), "new", { atomic = true }))
      return corun.fs.stat(at("t")).mode
    end)
    assert.equal("640", ("%o"):format(mode))
  end)

  it("atomic: a missing directory fails and leaves nothing", function()
    local v, err = run(function()
      return corun.fs.write_file(at("nodir/f"), "x", { atomic = true })
    end)
    assert.is_nil(v)
    assert.equal("ENOENT: no such file or directory (" .. at("nodir/f") .. ")",
                 err)
    assert.same({}, names(dir))
  end)

  it("atomic: a failed rename removes the temporary file", function()
    sh("mkdir " .. shell_quote(at("d")) .. " && touch "
       .. shell_quote(at("d/inside")))
    local v, err = run(function()
      return corun.fs.write_file(at("d"), "x", { atomic = true })
    end)
    assert.is_nil(v)
    assert.equal("EISDIR: illegal operation on a directory (" .. at("d")
                 .. ")", err)
    assert.same({ "d" }, names(dir))
  end)

  it("atomic: a cancelled write leaves old or new contents, no temporary",
     function()
    local old, new = "old", binary(4 * 1024 * 1024)
    put(at("t"), old)
    local ok = run(function()
      return corun.timeout(0, corun.fs.write_file, at("t"), new,
                           { atomic = true })
    end)
    assert.is_false(ok)
    local now = get(at("t"))
    assert.is_true(now == old or now == new)
    assert.same({ "t" }, names(dir))
  end)

  it("raises for data that is not a string, options not a table", function()
    local e1, e2 = run(function()
      local _, e1 = pcall(corun.fs.write_file, at("f"), 42)
      local _, e2 = pcall(corun.fs.write_file, at("f"), "x", true)
      return e1, e2
    end)
    assert.equal("corun.fs.write_file: bad argument #2 (string expected, got "
                 .. "number)", e1)
    assert.equal("corun.fs.write_file: bad argument #3 (table expected, got "
                 .. "boolean)", e2)
  end)
end)

describe("corun.fs.stat", function()
  it("describes a file: type, size, mode, times", function()
    put(at("f"), "12345")
    sh("chmod 640 " .. shell_quote(at("f")))
    local st = run(function() return corun.fs.stat(at("f")) end)
    assert.equal("file", st.type)
    assert.equal(5, st.size)
    assert.equal("640", ("%o"):format(st.mode))
    for _, k in ipairs { "mtime", "atime", "ctime" } do
      assert.equal("number", type(st[k]))
      assert.is_true(math.abs(st[k] - os.time()) < 60, k)
    end
    assert.equal(1, st.nlink)
  end)

  it("says directory for a directory", function()
    local st = run(function() return corun.fs.stat(dir) end)
    assert.equal("directory", st.type)
  end)

  it("follows a link; with follow = false describes the link", function()
    put(at("target"), "abc")
    sh("ln -s target " .. shell_quote(at("link")))
    local a, b = run(function()
      return corun.fs.stat(at("link")),
             corun.fs.stat(at("link"), { follow = false })
    end)
    assert.equal("file", a.type)
    assert.equal(3, a.size)
    assert.equal("link", b.type)
  end)

  it("says other for a device", function()
    local st = run(function() return corun.fs.stat("/dev/null") end)
    assert.equal("other", st.type)
  end)

  it("returns nil and ENOENT for a missing path", function()
    local v, err = run(function() return corun.fs.stat(at("nope")) end)
    assert.is_nil(v)
    assert.equal("ENOENT: no such file or directory (" .. at("nope") .. ")",
                 err)
  end)
end)

describe("corun.fs.list", function()
  it("returns the names in a directory, sorted, without . and ..",
     function()
    put(at("b"), "")
    put(at("a"), "")
    put(at(".hidden"), "")
    sh("mkdir " .. shell_quote(at("sub")))
    local got = run(function() return corun.fs.list(dir) end)
    assert.same({ ".hidden", "a", "b", "sub" }, got)
  end)

  it("returns an empty table for an empty directory", function()
    assert.same({}, run(function() return corun.fs.list(dir) end))
  end)

  it("returns nil and an error for a missing directory or a file",
     function()
    put(at("f"), "")
    local _, e1, _, e2 = run(function()
      local a, b = corun.fs.list(at("nope"))
      local c, d = corun.fs.list(at("f"))
      return a, b, c, d
    end)
    assert.equal("ENOENT: no such file or directory (" .. at("nope") .. ")",
                 e1)
    assert.equal("ENOTDIR: not a directory (" .. at("f") .. ")", e2)
  end)
end)

describe("corun.fs.mkdir", function()
  it("creates a directory and returns true", function()
    local ok, st = run(function()
      return corun.fs.mkdir(at("d")), corun.fs.stat(at("d"))
    end)
    assert.is_true(ok)
    assert.equal("directory", st.type)
  end)

  it("returns nil and EEXIST for a directory that exists", function()
    local v, err = run(function() return corun.fs.mkdir(dir) end)
    assert.is_nil(v)
    assert.equal("EEXIST: file already exists (" .. dir .. ")", err)
  end)

  it("returns nil and ENOENT when the parent is missing", function()
    local _, err = run(function() return corun.fs.mkdir(at("a/b")) end)
    assert.equal("ENOENT: no such file or directory (" .. at("a/b") .. ")",
                 err)
  end)
end)

describe("corun.fs.remove", function()
  it("removes a file and an empty directory", function()
    put(at("f"), "x")
    sh("mkdir " .. shell_quote(at("d")))
    local a, b = run(function()
      return corun.fs.remove(at("f")), corun.fs.remove(at("d"))
    end)
    assert.is_true(a)
    assert.is_true(b)
    assert.same({}, names(dir))
  end)

  it("returns nil and ENOTEMPTY for a directory that is not empty",
     function()
    sh("mkdir " .. shell_quote(at("d")))
    put(at("d/f"), "x")
    local v, err = run(function() return corun.fs.remove(at("d")) end)
    assert.is_nil(v)
    assert.equal("ENOTEMPTY: directory not empty (" .. at("d") .. ")", err)
    assert.equal("x", get(at("d/f")))
  end)

  it("removes a link, not what it points to", function()
    sh("mkdir " .. shell_quote(at("d")))
    sh("ln -s d " .. shell_quote(at("link")))
    run(function() assert(corun.fs.remove(at("link"))) end)
    assert.same({ "d" }, names(dir))
  end)

  it("returns nil and ENOENT for a missing path", function()
    local _, err = run(function() return corun.fs.remove(at("nope")) end)
    assert.equal("ENOENT: no such file or directory (" .. at("nope") .. ")",
                 err)
  end)
end)

describe("corun.fs.rename", function()
  it("moves a file, replacing the target", function()
    put(at("a"), "A")
    put(at("b"), "B")
    local ok = run(function() return corun.fs.rename(at("a"), at("b")) end)
    assert.is_true(ok)
    assert.same({ "b" }, names(dir))
    assert.equal("A", get(at("b")))
  end)

  it("moves a directory", function()
    sh("mkdir " .. shell_quote(at("d")))
    put(at("d/f"), "x")
    run(function() assert(corun.fs.rename(at("d"), at("e"))) end)
    assert.equal("x", get(at("e/f")))
  end)

  it("returns nil and an error naming both paths", function()
    local v, err = run(function()
      return corun.fs.rename(at("nope"), at("b"))
    end)
    assert.is_nil(v)
    assert.equal("ENOENT: no such file or directory (" .. at("nope") .. " -> "
                 .. at("b") .. ")", err)
  end)

  it("raises for a target that is not a string", function()
    local ok, err = run(function() return pcall(corun.fs.rename, "a") end)
    assert.is_false(ok)
    assert.equal("corun.fs.rename: bad argument #2 (string expected, got no "
                 .. "value)", err)
  end)
end)

describe("corun.fs.mkdir with {parents = true}", function()
  it("creates every missing parent and returns true", function()
    local ok, types = run(function()
      local ok = corun.fs.mkdir(at("a/b/c"), { parents = true })
      local types = {}
      for _, p in ipairs({ "a", "a/b", "a/b/c" }) do
        types[#types + 1] = corun.fs.stat(at(p)).type
      end
      return ok, types
    end)
    assert.is_true(ok)
    assert.same({ "directory", "directory", "directory" }, types)
  end)

  it("succeeds when the directory exists, as mkdir -p does", function()
    sh("mkdir -p " .. shell_quote(at("a/b")))
    local r = run(function()
      return { corun.fs.mkdir(at("a/b"), { parents = true }),
               corun.fs.mkdir(at("a/b/"), { parents = true }),
               corun.fs.mkdir(dir, { parents = true }),
               corun.fs.mkdir("/", { parents = true }) }
    end)
    assert.same({ true, true, true, true }, r)
  end)

  it("takes repeated slashes, a trailing slash, . and ..", function()
    local ok = run(function()
      return corun.fs.mkdir(at("x//y/./z/../w/"), { parents = true })
    end)
    assert.is_true(ok)
    assert.same({ "w", "z" }, names(at("x/y")))
  end)

  it("also follows a link to a directory", function()
    sh("mkdir " .. shell_quote(at("d")))
    sh("ln -s d " .. shell_quote(at("link")))
    local a, b = run(function()
      return corun.fs.mkdir(at("link"), { parents = true }),
             corun.fs.mkdir(at("link/e/f"), { parents = true })
    end)
    assert.is_true(a)
    assert.is_true(b)
    assert.same({ "e" }, names(at("d")))
  end)

  it("returns nil and EEXIST when a file is at the path", function()
    put(at("f"), "x")
    local v, err = run(function()
      return corun.fs.mkdir(at("f"), { parents = true })
    end)
    assert.is_nil(v)
    assert.equal("EEXIST: file already exists (" .. at("f") .. ")", err)
  end)

  it("names the directory it could not make", function()
    put(at("f"), "x")
    local v, err = run(function()
      return corun.fs.mkdir(at("f/g/h"), { parents = true })
    end)
    assert.is_nil(v)
    assert.equal("ENOTDIR: not a directory (" .. at("f/g") .. ")", err)
  end)

  it("returns nil and EACCES under a directory it may not write",
     function()
    if is_root() then return end  -- root writes anywhere
    sh("mkdir " .. shell_quote(at("ro")) .. " && chmod 555 "
       .. shell_quote(at("ro")))
    local v, err = run(function()
      return corun.fs.mkdir(at("ro/a/b"), { parents = true })
    end)
    assert.is_nil(v)
    assert.equal("EACCES: permission denied (" .. at("ro/a") .. ")", err)
  end)

  it("is cancelled by corun.timeout; a second call finishes the work",
     function()
    local deep = at(("d/"):rep(50) .. "end")
    local ok, err, again, st = run(function()
      local ok, err = corun.timeout(0, corun.fs.mkdir, deep,
                                    { parents = true })
      local again = corun.fs.mkdir(deep, { parents = true })
      return ok, err, again, corun.fs.stat(deep)
    end)
    assert.is_false(ok)
    assert.equal("deadline has elapsed", err)
    assert.is_true(again)
    assert.equal("directory", st.type)
  end)

  it("raises for options that are not a table", function()
    local err = run(function()
      return select(2, pcall(corun.fs.mkdir, at("a"), true))
    end)
    assert.equal("corun.fs.mkdir: bad argument #2 (table expected, got "
                 .. "boolean)", err)
  end)
end)

describe("corun.fs.copy", function()
  it("copies a file's bytes and permission bits", function()
    local data = binary(1024 * 1024 + 7)
    put(at("a"), data)
    sh("chmod 751 " .. shell_quote(at("a")))
    local ok, mode = run(function()
      return corun.fs.copy(at("a"), at("b")), corun.fs.stat(at("b")).mode
    end)
    assert.is_true(ok)
    assert.is_true(get(at("b")) == data)
    assert.equal("751", ("%o"):format(mode))
    assert.is_true(get(at("a")) == data)
  end)

  it("replaces an existing target", function()
    put(at("a"), "new")
    put(at("b"), "old and longer")
    local ok = run(function() return corun.fs.copy(at("a"), at("b")) end)
    assert.is_true(ok)
    assert.equal("new", get(at("b")))
  end)

  it("copies a file onto itself without harm", function()
    put(at("a"), "same")
    local ok = run(function() return corun.fs.copy(at("a"), at("a")) end)
    assert.is_true(ok)
    assert.equal("same", get(at("a")))
  end)

  it("returns nil and EISDIR for a target that is a directory", function()
    put(at("a"), "x")
    sh("mkdir " .. shell_quote(at("d")))
    local v, err = run(function() return corun.fs.copy(at("a"), at("d")) end)
    assert.is_nil(v)
    assert.equal("EISDIR: illegal operation on a directory (" .. at("a")
                 .. " -> " .. at("d") .. ")", err)
    assert.same({}, names(at("d")))
  end)

  it("returns nil and EISDIR for a directory, leaving the target alone",
     function()
    sh("mkdir " .. shell_quote(at("d")))
    put(at("b"), "keep")
    local v, err = run(function() return corun.fs.copy(at("d"), at("b")) end)
    assert.is_nil(v)
    assert.equal("EISDIR: illegal operation on a directory (" .. at("d")
                 .. " -> " .. at("b") .. ")", err)
    assert.equal("keep", get(at("b")))
  end)

  it("returns nil and ENOENT naming both paths for a missing source",
     function()
    local v, err = run(function()
      return corun.fs.copy(at("nope"), at("b"))
    end)
    assert.is_nil(v)
    assert.equal("ENOENT: no such file or directory (" .. at("nope")
                 .. " -> " .. at("b") .. ")", err)
    assert.same({}, names(dir))
  end)

  it("raises for paths that are not strings", function()
    local e1, e2 = run(function()
      return select(2, pcall(corun.fs.copy, 1, "b")),
             select(2, pcall(corun.fs.copy, "a"))
    end)
    assert.equal("corun.fs.copy: bad argument #1 (string expected, got "
                 .. "number)", e1)
    assert.equal("corun.fs.copy: bad argument #2 (string expected, got no "
                 .. "value)", e2)
  end)
end)

describe("corun.fs.chmod", function()
  it("sets the permission bits from an integer mode", function()
    put(at("f"), "x")
    local a, m1, b, m2 = run(function()
      local a = corun.fs.chmod(at("f"), tonumber("640", 8))
      local m1 = corun.fs.stat(at("f")).mode
      local b = corun.fs.chmod(at("f"), tonumber("4755", 8))
      return a, m1, b, corun.fs.stat(at("f")).mode
    end)
    assert.is_true(a)
    assert.equal("640", ("%o"):format(m1))
    assert.is_true(b)
    assert.equal("4755", ("%o"):format(m2))
  end)

  it("returns nil and ENOENT for a missing path", function()
    local v, err = run(function()
      return corun.fs.chmod(at("nope"), tonumber("644", 8))
    end)
    assert.is_nil(v)
    assert.equal("ENOENT: no such file or directory (" .. at("nope") .. ")",
                 err)
  end)

  it("raises for a mode that is not an integer 0..07777", function()
    local function message(mode)
      return run(function()
        return select(2, pcall(corun.fs.chmod, at("f"), mode))
      end)
    end
    assert.equal("corun.fs.chmod: bad argument #2 (integer mode expected, "
                 .. "got string)", message("755"))
    assert.equal("corun.fs.chmod: bad argument #2 (integer mode expected, "
                 .. "got number)", message(1.5))
    assert.equal("corun.fs.chmod: bad argument #2 (mode must be 0..4095, "
                 .. "07777 in octal, got 4096)", message(4096))
    assert.equal("corun.fs.chmod: bad argument #2 (mode must be 0..4095, "
                 .. "07777 in octal, got -1)", message(-1))
  end)
end)

describe("corun.fs.symlink", function()
  it("makes a link that readlink reads and stat follows", function()
    put(at("f"), "hello")
    local ok, target, data, st = run(function()
      local ok = corun.fs.symlink("f", at("link"))
      return ok, corun.fs.readlink(at("link")),
             corun.fs.read_file(at("link")),
             corun.fs.stat(at("link"), { follow = false })
    end)
    assert.is_true(ok)
    assert.equal("f", target)
    assert.equal("hello", data)
    assert.equal("link", st.type)
  end)

  it("makes a link to what does not exist", function()
    local ok, target = run(function()
      return corun.fs.symlink("/nonexistent/x", at("dangling")),
             corun.fs.readlink(at("dangling"))
    end)
    assert.is_true(ok)
    assert.equal("/nonexistent/x", target)
  end)

  it("returns nil and EEXIST naming path -> target", function()
    put(at("f"), "x")
    local v, err = run(function() return corun.fs.symlink("g", at("f")) end)
    assert.is_nil(v)
    assert.equal("EEXIST: file already exists (" .. at("f") .. " -> g)", err)
  end)

  it("raises for a target that is not a string or holds a zero byte",
     function()
    local e1, e2 = run(function()
      return select(2, pcall(corun.fs.symlink, nil, at("l"))),
             select(2, pcall(corun.fs.symlink, "a\0b", at("l")))
    end)
    assert.equal("corun.fs.symlink: bad argument #1 (string expected, got "
                 .. "nil)", e1)
    assert.equal("corun.fs.symlink: bad argument #1 (target contains a zero "
                 .. "byte)", e2)
  end)
end)

describe("corun.fs.readlink", function()
  it("returns what a link points to, as it was written", function()
    sh("ln -s ../some/where " .. shell_quote(at("l")))
    local target = run(function() return corun.fs.readlink(at("l")) end)
    assert.equal("../some/where", target)
  end)

  it("returns nil and EINVAL for a file that is no link, ENOENT if missing",
     function()
    put(at("f"), "x")
    local v, err = run(function() return corun.fs.readlink(at("f")) end)
    assert.is_nil(v)
    assert.equal("EINVAL: invalid argument (" .. at("f") .. ")", err)
    v, err = run(function() return corun.fs.readlink(at("nope")) end)
    assert.is_nil(v)
    assert.equal("ENOENT: no such file or directory (" .. at("nope") .. ")",
                 err)
  end)

  it("raises outside a task", function()
    assert.has_error(function() corun.fs.readlink("x") end,
      "corun.fs.readlink: must be called from a task (inside corun.run)")
  end)
end)

describe("corun.fs.open", function()
  it("'r' reads an existing file; writing fails with EBADF", function()
    put(at("f"), "abcdef")
    local a, b, c, werr = run(function()
      local f = assert(corun.fs.open(at("f"), "r"))
      local a, b, c = f:read(2), f:read(), f:read()
      local _, werr = f:write("x")
      f:close()
      return a, b, c, werr
    end)
    assert.equal("ab", a)
    assert.equal("cdef", b)
    assert.is_nil(c)
    assert.equal("EBADF: bad file descriptor (" .. at("f") .. ")", werr)
  end)

  it("opens for reading when no mode is given", function()
    put(at("f"), "abc")
    assert.equal("abc", run(function()
      return assert(corun.fs.open(at("f"))):read()
    end))
  end)

  it("'w' creates or truncates; reading fails with EBADF", function()
    put(at("f"), "old contents")
    local rerr = run(function()
      local f = assert(corun.fs.open(at("f"), "w"))
      assert(f:write("new"))
      local _, rerr = f:read()
      f:close()
      local g = assert(corun.fs.open(at("g"), "wb"))
      g:write("G")
      g:close()
      return rerr
    end)
    assert.equal("new", get(at("f")))
    assert.equal("G", get(at("g")))
    assert.equal("EBADF: bad file descriptor (" .. at("f") .. ")", rerr)
  end)

  it("'a' appends, starting at the end", function()
    put(at("f"), "123")
    local pos, after = run(function()
      local f = assert(corun.fs.open(at("f"), "a"))
      local pos = f:seek()
      f:seek("set", 0)
      f:write("45")  -- still at the end
      local after = f:seek()
      f:close()
      return pos, after
    end)
    assert.equal(3, pos)
    assert.equal(5, after)
    assert.equal("12345", get(at("f")))
  end)

  it("'r+' reads and writes in place", function()
    put(at("f"), "abcdef")
    local got = run(function()
      local f = assert(corun.fs.open(at("f"), "r+"))
      local got = f:read(2)
      f:write("XY")
      f:close()
      return got
    end)
    assert.equal("ab", got)
    assert.equal("abXYef", get(at("f")))
  end)

  it("'w+' truncates, then reads back what it wrote", function()
    put(at("f"), "old contents")
    local got = run(function()
      local f = assert(corun.fs.open(at("f"), "w+b"))
      f:write("hello")
      assert.equal(0, f:seek("set"))
      local got = f:read()
      f:close()
      return got
    end)
    assert.equal("hello", got)
    assert.equal("hello", get(at("f")))
  end)

  it("'a+' reads from the start and writes at the end", function()
    put(at("f"), "abc")
    local first, pos = run(function()
      local f = assert(corun.fs.open(at("f"), "a+"))
      local first = f:read(1)
      f:write("d")
      local pos = f:seek()
      f:close()
      return first, pos
    end)
    assert.equal("a", first)
    assert.equal(4, pos)
    assert.equal("abcd", get(at("f")))
  end)

  it("returns nil and ENOENT for a missing file in 'r' mode", function()
    local v, err = run(function() return corun.fs.open(at("nope"), "r") end)
    assert.is_nil(v)
    assert.equal("ENOENT: no such file or directory (" .. at("nope") .. ")",
                 err)
  end)

  it("raises for a bad mode", function()
    local errs = run(function()
      local errs = {}
      for _, m in ipairs { "x", "rw", "rb+", "", 3 } do
        errs[#errs + 1] = select(2, pcall(corun.fs.open, at("f"), m))
      end
      return errs
    end)
    assert.equal("corun.fs.open: bad argument #2 (invalid mode 'x')", errs[1])
    assert.equal("corun.fs.open: bad argument #2 (invalid mode 'rw')", errs[2])
    assert.equal("corun.fs.open: bad argument #2 (invalid mode 'rb+')",
                 errs[3])
    assert.equal("corun.fs.open: bad argument #2 (invalid mode '')", errs[4])
    assert.equal("corun.fs.open: bad argument #2 (string expected, got "
                 .. "number)", errs[5])
  end)
end)

describe("corun.File", function()
  it("reads up to n bytes, then nil at the end of the file", function()
    put(at("f"), "0123456789")
    local got = run(function()
      local f = assert(corun.fs.open(at("f")))
      local got = {}
      for _ = 1, 4 do got[#got + 1] = tostring(f:read(4)) end
      return got
    end)
    assert.same({ "0123", "4567", "89", "nil" }, got)
  end)

  it("reads the rest of a 5 MB file at once", function()
    local data = binary(5 * 1024 * 1024)
    put(at("f"), data)
    local same, n, eof = run(function()
      local f <close> = assert(corun.fs.open(at("f"), "rb"))
      local head = f:read(10)
      local rest = f:read()
      return head .. rest == data, #rest, f:read()
    end)
    assert.is_true(same)
    assert.equal(#data - 10, n)
    assert.is_nil(eof)
  end)

  it("seeks like Lua's file:seek and returns the position", function()
    put(at("f"), "0123456789")
    local r = run(function()
      local f = assert(corun.fs.open(at("f")))
      local r = {}
      r[1] = f:seek()
      r[2] = f:seek("end")
      r[3] = f:seek("end", -3)
      r[4] = f:read(1)
      r[5] = f:seek("cur", -2)
      r[6] = f:read(2)
      r[7] = f:seek("set", 1)
      r[8] = f:read(1)
      r[9] = f:seek("set", 20)
      r[10] = tostring(f:read())
      return r
    end)
    assert.same({ 0, 10, 7, "7", 6, "67", 1, "1", 20, "nil" }, r)
  end)

  it("returns nil and EINVAL for a position before the start", function()
    put(at("f"), "abc")
    local v, err, pos = run(function()
      local f = assert(corun.fs.open(at("f")))
      f:read(1)
      local v, err = f:seek("cur", -5)
      return v, err, f:seek()
    end)
    assert.is_nil(v)
    assert.equal("EINVAL: invalid argument (" .. at("f") .. ")", err)
    assert.equal(1, pos)
  end)

  it("raises for a bad whence, a bad offset or a bad count", function()
    put(at("f"), "abc")
    local e = run(function()
      local f = assert(corun.fs.open(at("f")))
      local e = {}
      e[1] = select(2, pcall(f.seek, f, "start"))
      e[2] = select(2, pcall(f.seek, f, "set", 1.5))
      e[3] = select(2, pcall(f.read, f, 0))
      e[4] = select(2, pcall(f.read, f, "a"))
      e[5] = select(2, pcall(f.write, f, 5))
      e[6] = select(2, pcall(f.read))
      return e
    end)
    assert.equal("file:seek: bad argument #2 (invalid option 'start')", e[1])
    assert.equal("file:seek: bad argument #3 (integer expected, got number)",
                 e[2])
    assert.equal("file:read: bad argument #2 (at least 1 byte, got 0)", e[3])
    assert.equal("file:read: bad argument #2 (integer expected, got string)",
                 e[4])
    assert.equal("file:write: bad argument #2 (string expected, got number)",
                 e[5])
    assert.equal("file:read: bad argument #1 (corun.File expected, got no "
                 .. "value)", e[6])
  end)

  it("writes binary data with zero bytes; sync returns true", function()
    local data = binary(100000)
    local ok, synced = run(function()
      local f = assert(corun.fs.open(at("f"), "w"))
      local ok = f:write(data)
      local synced = f:sync()
      f:close()
      return ok, synced
    end)
    assert.is_true(ok)
    assert.is_true(synced)
    assert.is_true(get(at("f")) == data)
  end)

  it("closes: close returns true, twice is fine, use afterwards raises",
     function()
    put(at("f"), "abc")
    local a, b, err, s = run(function()
      local f = assert(corun.fs.open(at("f")))
      local a, b = f:close(), f:close()
      local _, err = pcall(f.read, f)
      return a, b, err, tostring(f)
    end)
    assert.is_true(a)
    assert.is_true(b)
    assert.equal("file:read: the file is closed", err)
    assert.equal("corun.File (closed)", s)
  end)

  it("has a tostring naming its path", function()
    put(at("f"), "")
    local s = run(function()
      local f <close> = assert(corun.fs.open(at("f")))
      return tostring(f)
    end)
    assert.equal("corun.File (" .. at("f") .. ")", s)
  end)

  it("is closed by a to-be-closed variable and by the collector", function()
    put(at("f"), "abc")
    local before = open_fds()
    local err = run(function()
      local inside = open_fds()  -- the runtime has descriptors of its own
      local keep
      do
        local f <close> = assert(corun.fs.open(at("f")))
        keep = f
      end
      for _ = 1, 50 do assert(corun.fs.open(at("f"))) end
      collectgarbage()
      collectgarbage()
      fds_back_to(inside)  -- the closes finish in the thread pool
      return select(2, pcall(keep.read, keep))
    end)
    assert.equal("file:read: the file is closed", err)
    if before then assert.equal(before, open_fds()) end
  end)

  it("moves into a spawned task: usable there, not by the spawner",
     function()
    put(at("f"), "hello")
    local got, err = run(function()
      local f = assert(corun.fs.open(at("f")))
      local h = corun.spawn(function(f)
        corun.sleep(0.01)
        return f:read()
      end, f)
      local _, err = pcall(f.read, f)
      local _, got = h:await()
      return got, err
    end)
    assert.equal("hello", got)
    assert.truthy(err:find("^corun: file belongs to task %d+"), err)
  end)

  it("is closed when its owner task ends", function()
    put(at("f"), "hello")
    shared()
    local err = run(function()
      corun.spawn(function(path)
        SHARED.file = assert(corun.fs.open(path))  -- globals are shared
      end, at("f")):await()
      local f = SHARED.file
      return select(2, pcall(f.read, f))
    end)
    assert.equal("file:read: the file is closed", err)
  end)

  it("is closed with the runtime, also with a read under way", function()
    shared()
    put(at("big"), binary(8 * 1024 * 1024))
    local before = open_fds()
    run_leaving(function(path)
      corun.spawn(function(path)
        local f = assert(corun.fs.open(path))
        SHARED.f = f  -- still reachable when the runtime closes
        while f:read(4096) do SHARED.reads = (SHARED.reads or 0) + 1 end
      end, path)
      -- until the first reads are done (not a fixed time: a busy machine
      -- may take longer than a fast one needs for the whole file)
      repeat corun.sleep(0.001) until SHARED.reads
      assert(SHARED.reads > 0 and SHARED.reads < 2048, SHARED.reads)
    end, at("big"))
    if before then assert.equal(before, open_fds()) end
  end)

  it("closes its descriptor once the operation under way has ended",
     function()
    local data = binary(8 * 1024 * 1024)
    put(at("f"), data)
    local same, before, after = run(function()
      local before = open_fds()
      local f = assert(corun.fs.open(at("f")))
      local got = corun.join(function() return f:read() end,
                             function() f:close() end)
      fds_back_to(before)  -- the thread pool closes it
      return got == data, before, open_fds()
    end)
    assert.is_true(same)  -- the read under way still answers
    assert.equal(before, after)
  end)

  it("runs the operations of two branches one at a time, in call order",
     function()
    local got = run(function()
      local f = assert(corun.fs.open(at("f"), "w+"))
      corun.join(function() f:write(("a"):rep(100000)) end,
                 function() f:write("b") end,
                 function() f:seek("set", 0) end)
      local got = f:read()
      f:close()
      return got
    end)
    assert.equal(("a"):rep(100000) .. "b", got)
  end)

  it("a cancelled read leaves the position where it was", function()
    local data = binary(8 * 1024 * 1024)
    put(at("f"), data)
    local ok, pos, same = run(function()
      local f = assert(corun.fs.open(at("f")))
      assert.equal("\0\1", f:read(2))
      local ok = corun.timeout(0, f.read, f)  -- many steps: cut short
      return ok, f:seek(), f:read() == data:sub(3)
    end)
    assert.is_false(ok)
    assert.equal(2, pos)
    assert.is_true(same)
  end)

  it("a queued operation finds the file closed by another branch",
     function()
    put(at("f"), "abc")
    local v, err = run(function()
      local f = assert(corun.fs.open(at("f")))
      local _, r = corun.join(function() return f:read(1) end,
                              function() return table.pack(f:read(1)) end,
                              function() f:close() end)
      return r[1], r[2]
    end)
    assert.is_nil(v)
    assert.equal("ECANCELED: operation canceled (the file was closed)", err)
  end)
end)
