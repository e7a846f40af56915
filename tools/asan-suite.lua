-- asan-suite.lua: run the specs under AddressSanitizer, one busted process
-- per spec file (make test-asan).
--
--   CORUN_PRELOAD="libasan.so libubsan.so" lua5.4 tools/asan-suite.lua [spec...]
--
-- Each file runs in `lua5.4 tools/busted.lua FILE` with CORUN_PRELOAD as
-- its LD_PRELOAD (this script itself runs without it), so that a leak is
-- reported against the file whose specs made it, and a crash fails one
-- file.  LeakSanitizer's own stop-the-world tracer sometimes crashes at a
-- process's exit ("Tracer caught signal 11", google/sanitizers#1353): no
-- leak is reported then, nothing was checked.  A file whose specs all
-- passed and whose only failure is that crash is run again, at most twice;
-- a leak report, a failed spec or any other error is never retried.
-- Prints each file's busted summary, then the totals; exits 1 if any file
-- failed.

local preload = os.getenv("CORUN_PRELOAD") or ""

local function q(s) return "'" .. s:gsub("'", "'\\''") .. "'" end

local files = {}
if #arg > 0 then
  files = arg
else
  local p = assert(io.popen("ls spec/*_spec.lua"))
  for f in p:lines() do files[#files + 1] = f end
  p:close()
end

-- Run one file once: its output and whether the process succeeded.
local function run_file(file)
  local out = os.tmpname()
  local ok = os.execute(("LD_PRELOAD=%s lua5.4 tools/busted.lua %s > %s 2>&1")
                        :format(q(preload), q(file), q(out)))
  local f = assert(io.open(out, "rb"))
  local text = f:read("a")
  f:close()
  os.remove(out)
  return text, ok
end

-- Only LeakSanitizer's tracer crashed: every spec passed, no report.
local function tracer_crash_only(text)
  local s, fl, er = text:match("(%d+) successes / (%d+) failures / " ..
                               "(%d+) errors")
  return s ~= nil and fl == "0" and er == "0" and
         text:find("Tracer caught signal", 1, true) ~= nil and
         text:find("LeakSanitizer has encountered a fatal error", 1, true)
           ~= nil and
         text:find("detected memory leaks", 1, true) == nil and
         text:find("ERROR: AddressSanitizer", 1, true) == nil and
         text:find("runtime error:", 1, true) == nil
end

local totals = { 0, 0, 0, 0 }
local failed = {}
for _, file in ipairs(files) do
  local text, ok = run_file(file)
  local tries = 1
  while not ok and tries < 3 and tracer_crash_only(text) do
    io.write(("%s: LeakSanitizer's tracer crashed at exit (no leak "
              .. "checked); running it again\n"):format(file))
    text, ok = run_file(file)
    tries = tries + 1
  end
  local s, fl, er, pe = text:match("(%d+) successes / (%d+) failures / " ..
                                   "(%d+) errors / (%d+) pending")
  for i, v in ipairs { s, fl, er, pe } do
    totals[i] = totals[i] + (tonumber(v) or 0)
  end
  io.write(("%-40s %s\n"):format(file, s and
           ("%s successes / %s failures / %s errors / %s pending")
           :format(s, fl, er, pe) or "no summary"))
  if not ok then
    failed[#failed + 1] = file
    io.write(text, "\n")
  end
  io.flush()
end
print(("%d successes / %d failures / %d errors / %d pending (%d files)")
      :format(totals[1], totals[2], totals[3], totals[4], #files))
if #failed > 0 then
  print("failed: " .. table.concat(failed, " "))
  os.exit(1)
end
