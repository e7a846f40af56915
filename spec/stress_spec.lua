local corun = require "corun"

-- Many tasks through a JoinSet behind a Semaphore, each bumping a
-- Mutex-protected counter and sending its index over a channel to a
-- collector task.  Every count is checked exactly.
-- N = 100 000 in every build: the three tests take about 10 s in all
-- under AddressSanitizer too (`make test-asan`).
local N = 100000
local LIMIT = 64     -- permits: at most this many tasks inside at once
-- Seconds per test, real time (helper.lua's run() allows 10): a guard
-- against a hang, not a timing check.  A test takes a few seconds, but
-- several times that under AddressSanitizer on a busy machine.
local WATCHDOG = 300

-- corun.run(fn) with a longer watchdog than run() in helper.lua.
local function run_long(fn)
  return corun.run(function()
    local r = table.pack(corun.timeout(WATCHDOG, fn))
    if not r[1] then
      error(("watchdog: the test still ran after %g s"):format(WATCHDOG), 0)
    end
    return table.unpack(r, 2, r.n)
  end)
end

-- The body of every task.  The permit was acquired by the spawner and
-- moved in; 'mode' picks how it is given back: "close" (a <close>
-- variable), "release" (permit:release()) or "end" (dropped: the task
-- owns it, and it is released when the task ends).  The task yields while
-- it holds the permit, so LIMIT tasks really are inside together, and
-- every 'lock_yield'-th task also yields while it holds the lock, so
-- that others queue on the Mutex.
local function worker(i, permit, mode, mutex, tx, lock_yield)
  local S = SHARED
  local p <close> = mode == "close" and permit or nil
  S.inside = S.inside + 1
  if S.inside > S.max then S.max = S.inside end
  local g = mutex:lock()
  g.value = g.value + 1
  if lock_yield and i % lock_yield == 0 then corun.yield_now() end
  g:unlock()
  corun.yield_now()
  assert(tx:send(i))
  S.inside = S.inside - 1
  if mode == "release" then permit:release() end
  return i
end

-- Receives until every sender is gone; checks the indices as they come.
local function collect(rx, n)
  local seen, count, sum, dups, bad = {}, 0, 0, 0, 0
  while true do
    local v = rx:recv()
    if v == nil then break end
    count = count + 1
    sum = sum + v
    if math.type(v) ~= "integer" or v < 1 or v > n then bad = bad + 1
    elseif seen[v] then dups = dups + 1
    else seen[v] = true end
  end
  return { count = count, sum = sum, dups = dups, bad = bad }
end

-- Run the scenario; returns what it observed.
--   opts.mode      how the permit goes back (see worker; "mixed" cycles
--                  through the three by index)
--   opts.capacity  channel capacity (nil: unbounded)
--   opts.drain     join finished tasks while spawning (try_join_next)
--   opts.lock_yield  see worker
local function stress(opts)
  local S = shared()
  S.inside, S.max = 0, 0
  return run_long(function()
    local t0 = corun.now()
    local sem = corun.Semaphore(LIMIT)
    local mutex = corun.Mutex(0)
    local tx, rx = corun.channel(opts.capacity)
    local collector = corun.spawn(collect, rx, N)
    local set = corun.JoinSet()
    local modes = { "close", "release", "end" }
    local ok_count, err_count, results_sum, peak_len = 0, 0, 0, 0
    local function joined(ok, v)
      if ok then
        ok_count = ok_count + 1
        results_sum = results_sum + v
      else
        err_count = err_count + 1
        S.first_err = S.first_err or tostring(v)
      end
    end
    for i = 1, N do
      local permit = sem:acquire()
      local mode = opts.mode
      if mode == "mixed" then mode = modes[i % 3 + 1] end
      set:spawn(worker, i, permit, mode, mutex, tx, opts.lock_yield)
      if opts.drain then
        while true do
          local ok, v = set:try_join_next()
          if ok == nil then break end
          joined(ok, v)
        end
      end
      if #set > peak_len then peak_len = #set end
    end
    tx:close()  -- the main task's sender: the tasks hold their own
    while true do
      local ok, v = set:join_next()
      if ok == nil then break end
      joined(ok, v)
      -- join_next does not wait while finished tasks are there, so the
      -- watchdog (a timer) cannot stop a join that is too slow: check here
      if (ok_count + err_count) % 1024 == 0
         and corun.now() - t0 > WATCHDOG then
        error(("joined only %d of %d tasks in %g s"):format(
              ok_count + err_count, N, WATCHDOG), 0)
      end
    end
    local cok, got = collector:await()
    assert(cok, tostring(got))
    local g <close> = mutex:lock()
    return {
      counter = g.value, got = got, ok = ok_count, err = err_count,
      results_sum = results_sum, len = #set,
      permits = sem:available_permits(), max = S.max, inside = S.inside,
      first_err = S.first_err, peak_len = peak_len,
      seconds = corun.now() - t0,
    }
  end)
end

local function check(r)
  local sum = N * (N + 1) // 2
  assert.is_nil(r.first_err)
  assert.equal(0, r.err)
  assert.equal(N, r.ok)                 -- join_next: N successes
  assert.equal(sum, r.results_sum)      -- ... of the right tasks
  assert.equal(0, r.len)
  assert.equal(N, r.counter)            -- the Mutex-protected counter
  assert.equal(N, r.got.count)          -- the collector: N messages,
  assert.equal(0, r.got.bad)            -- each an index in 1..N,
  assert.equal(0, r.got.dups)           -- none twice,
  assert.equal(sum, r.got.sum)          -- so all of them
  assert.equal(LIMIT, r.permits)        -- every permit back
  assert.equal(0, r.inside)
  assert.is_true(r.max <= LIMIT, "more than " .. LIMIT .. " tasks inside: " .. r.max)
  assert.equal(LIMIT, r.max)            -- and the limit was reached
end

describe("stress", function()
  it(("runs %d tasks behind Semaphore(%d), permits closed by <close>"):format(N, LIMIT),
     function()
    local r = stress { mode = "close", lock_yield = 7 }
    check(r)
  end)

  it(("runs %d tasks, permits released, by release(), <close> or task end"):format(N),
     function()
    local r = stress { mode = "mixed", lock_yield = 5 }
    check(r)
  end)

  it(("runs %d tasks over a bounded channel, joining while spawning"):format(N),
     function()
    local r = stress { mode = "mixed", capacity = 16, drain = true, lock_yield = 3 }
    check(r)
    -- joined while spawning: finished tasks never piled up in the set
    assert.is_true(r.peak_len <= 2 * LIMIT, "set grew to " .. r.peak_len)
  end)
end)
