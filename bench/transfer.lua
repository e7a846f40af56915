-- bench/transfer.lua: what crossing a task boundary costs (host/transfer.c).
--
-- (d) ns per spawn of N tasks, the spawn calls only (timed inside one
--     task; the tasks run and are awaited after the clock stops), for:
--       (1) a function with no upvalue at all          -> the floor column
--       (2) a closure whose upvalues pass by identity ("0 data upvalues":
--           the global table, `local string = string`, `math.floor`);
--           target: (2)/(1) <= 1.10
--       (2') the same with the module in a local of another name
--           (`local str = string`): a module must be recognised by its
--           value, not by the upvalue's name; same target
--       (3) a closure with 5 data upvalues (numbers, a string, a table),
--           all N spawned before any runs: a live task owns the closure,
--           so every spawn after the first loads a fresh copy of its
--           bytecode
--       (3b) the same closure, each task awaited right after its spawn:
--           the closure is moved again, not reloaded.  Each spawn call is
--           timed on its own, less the cost of two back-to-back clock
--           reads; the floor column is (1) timed the same way.
-- (e) copy throughput at spawn, MB/s (MB = 10^6 bytes of Lua heap held by
--     the value, measured with collectgarbage("count")): K spawns, each
--     with a ~1 MB table as argument, each timed around the spawn call
--     (the copy happens there) and awaited after; a tree of tables with
--     numeric leaves, and an array of 8000 strings of 100 bytes (strings
--     are immutable: shared, not copied).  Floor: a plain Lua recursive
--     deep copy with a visited table, of the same value in the same run.
--     The line under each is the heap one copy holds (full GC before and
--     after one spawn, its task not yet run; floor: after one deep copy).
-- The variants compared in one H.compare alternate, with a full GC before
-- each run.
return function(H)
  local corun, now = H.corun, H.now
  local N = H.count(200000)
  local sum_N = N * (N + 1) // 2

  ---------------------------------------------------------------- (d)
  -- (1) no upvalue: compiled on its own, so it does not even capture _ENV.
  local f_none = assert(load("return function(i) return i end", "=f_none"))()
  assert(debug.getupvalue(f_none, 1) == nil, "f_none has an upvalue")

  -- (2) upvalues holding identity values only: _ENV (for `print`), the
  -- module `string` in a local of the same name, the C function
  -- math.floor.  Nothing to copy: spawn should cost what (1) costs.
  local string, floor = string, math.floor
  local function f_ident(i)
    if i < 0 then print(string.format("%d", floor(i))) end
    return i
  end

  -- (2e) only _ENV: a task body that uses globals and nothing else.
  local function f_env(i)
    if i < 0 then print(i) end
    return i
  end

  -- (2') the same with the module in a local of another name, so that a
  -- module cannot be recognised by the upvalue's name.
  local str = string
  local function f_renamed(i)
    if i < 0 then print(str.format("%d", floor(i))) end
    return i
  end

  -- (3) five data upvalues, all read in the body.
  local d_int, d_float, d_str, d_tab, d_step = 1, 0.5, "corun", { 1, 2, 3 }, 2
  local function f_data(i)
    if i < 0 then return d_int + d_float + #d_str + d_tab[3] + d_step end
    return i
  end

  local function check_upvalues(f, want)
    local names = {}
    for j = 1, 255 do
      local name = debug.getupvalue(f, j)
      if not name then break end
      names[#names + 1] = name
    end
    assert(table.concat(names, ",") == want,
           "unexpected upvalues: " .. table.concat(names, ","))
  end
  check_upvalues(f_ident, "_ENV,string,floor")
  check_upvalues(f_env, "_ENV")
  check_upvalues(f_renamed, "_ENV,str,floor")
  check_upvalues(f_data, "d_int,d_float,d_str,d_tab,d_step")

  -- All N spawned, then awaited after the clock stops: ns per spawn.
  local function spawn_all(f)
    return function()
      local dt
      corun.run(function()
        local spawn, hs, sum = corun.spawn, {}, 0
        local t0 = now()
        for i = 1, N do hs[i] = spawn(f, i) end
        dt = now() - t0
        for i = 1, N do
          local h = hs[i]
          hs[i] = nil
          local _, v = h:await()
          sum = sum + v
        end
        assert(sum == sum_N, "spawn: wrong results")
      end)
      return dt * 1e9 / N
    end
  end

  -- Each task awaited right after its spawn; only the spawn call is timed,
  -- less the cost of two back-to-back clock reads (measured first).
  local function spawn_each(f)
    return function()
      local dt
      corun.run(function()
        local spawn, sum, acc, idle = corun.spawn, 0, 0, 0
        for _ = 1, N do
          local t0 = now()
          idle = idle + (now() - t0)
        end
        for i = 1, N do
          local t0 = now()
          local h = spawn(f, i)
          acc = acc + (now() - t0)
          local _, v = h:await()
          sum = sum + v
        end
        assert(sum == sum_N, "spawn: wrong results")
        dt = acc - idle
      end)
      return dt * 1e9 / N
    end
  end

  -- The floor column of (d) is f_none, spawned the same way in the same
  -- runs.  The rows after the first take 3 samples (the data-upvalue
  -- spawns cost microseconds each), to keep the module within about 30 s.
  local slow_reps = math.min(H.reps, 3)
  H.compare {
    workload = string.format("(d) spawn, 0 data upvalues, N=%d", N),
    unit = "ns/spawn", target = { ratio = 1.10 },
    corun = spawn_all(f_ident), floor = spawn_all(f_none),
  }
  H.compare {
    workload = "    only _ENV (globals)",
    unit = "ns/spawn", target = { ratio = 1.10 },
    corun = spawn_all(f_env), floor = spawn_all(f_none),
  }
  H.compare {
    workload = "    module in a renamed local",
    unit = "ns/spawn", target = { ratio = 1.10 },
    corun = spawn_all(f_renamed), floor = spawn_all(f_none),
    reps = slow_reps,
  }
  H.compare {
    workload = "    5 data upvalues, all pending (reload)",
    unit = "ns/spawn",
    corun = spawn_all(f_data), floor = spawn_all(f_none),
    reps = slow_reps,
  }
  H.compare {
    workload = "    5 data upvalues, each awaited (reuse)",
    unit = "ns/spawn",
    corun = spawn_each(f_data), floor = spawn_each(f_none),
    reps = slow_reps,
  }

  ---------------------------------------------------------------- (e)
  local K = H.count(10)  -- spawns (floor: copies) per sample

  local function deepcopy(v, seen)
    if type(v) ~= "table" then return v end
    local c = seen[v]
    if c then return c end
    c = {}
    seen[v] = c
    for k, x in next, v do c[deepcopy(k, seen)] = deepcopy(x, seen) end
    return setmetatable(c, getmetatable(v))
  end

  -- Build a value once (on first use) and measure the heap it holds.
  local function measured(build)
    local value, bytes
    return function()
      if not value then
        H.gc()
        local before = collectgarbage("count")
        value = build()
        H.gc()
        bytes = (collectgarbage("count") - before) * 1024
      end
      return value, bytes
    end
  end

  -- A tree: 8 x 8 x 8 x 8 leaf tables of 10 numbers (integers and
  -- floats), 4681 tables in all.
  local tree = measured(function()
    local function node(depth, b)
      if depth == 0 then
        return { b, b + 0.5, b + 1, b + 1.5, b + 2,
                 b + 2.5, b + 3, b + 3.5, b + 4, b + 4.5 }
      end
      local t = {}
      for j = 1, 8 do t[j] = node(depth - 1, b * 8 + j) end
      return t
    end
    return node(4, 0)
  end)

  -- An array of 8000 distinct strings of 100 bytes.
  local NSTR = 8000
  local strings = measured(function()
    local t, pad = {}, string.rep("x", 92)
    for j = 1, NSTR do t[j] = string.format("%08d", j) .. pad end
    assert(#t[1] == 100)
    return t
  end)

  local function sink(t) return t ~= nil end  -- no upvalue

  local function copy_corun(get)
    return function()
      local value, bytes = get()
      local acc, held = 0, 0
      corun.run(function()
        local spawn = corun.spawn
        for _ = 1, K do
          local t0 = now()
          local h = spawn(sink, value)
          acc = acc + (now() - t0)
          assert(h:await())
        end
        H.gc()  -- heap held by one copy, its task not yet run
        local before = collectgarbage("count")
        local h = spawn(sink, value)
        H.gc()
        held = (collectgarbage("count") - before) * 1024
        assert(h:await())
      end)
      return bytes / 1e6 / (acc / K), held / 1024
    end
  end

  local function copy_floor(get)
    return function()
      local value, bytes = get()
      local acc = 0
      for _ = 1, K do
        local t0 = now()
        local c = deepcopy(value, {})
        acc = acc + (now() - t0)
        assert(c ~= value)
      end
      H.gc()
      local before = collectgarbage("count")
      local c = deepcopy(value, {})
      H.gc()
      local held = (collectgarbage("count") - before) * 1024
      assert(c ~= value)
      return bytes / 1e6 / (acc / K), held / 1024
    end
  end

  local function mb(get)
    local _, bytes = get()
    return bytes / 1e6
  end

  H.compare {
    rows = {
      { workload = string.format("(e) copy at spawn, %.2f MB nested tables",
                                 mb(tree)), unit = "MB/s" },
      { workload = "    heap held by the copy", unit = "KiB" },
    },
    corun = copy_corun(tree), floor = copy_floor(tree),
  }
  H.compare {
    rows = {
      { workload = string.format("    %.2f MB: %d strings of 100 B",
                                 mb(strings), NSTR), unit = "MB/s" },
      { workload = "    heap held by the copy", unit = "KiB" },
    },
    corun = copy_corun(strings), floor = copy_floor(strings),
  }
end
