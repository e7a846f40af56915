-- transfer_props.lua: property-based tests of what crosses a task boundary
-- (API.md, "Ownership: what crosses a task boundary").
--
-- require("transfer_props")() defines the describe/it blocks (busted's
-- describe/it/assert and the helper's run/shared are taken from the
-- calling spec file's environment, or from the table given as argument).
-- Each `it` runs over SEEDS random value graphs, each made by a small
-- deterministic PRNG seeded with the seed number, which every failure
-- message names.
--
-- A graph is tables (each labelled with its own "#id" field) with cycles,
-- shared sub-tables, a few fixed metatables, keys of several types
-- (strings, integers, booleans, floats, tables, functions) and Lua
-- closures: boxes (one captured local), counters (inc/get sharing one
-- cell), pairs (getter/setter sharing two cells, one holding a table of the
-- graph), self-recursive closures, and functions without data upvalues;
-- and values that cross by identity (_G, modules, C functions).  Every
-- generated Lua function answers f("id"), f("kind") and f("get").
--
-- The second describe holds the smallest cases of what these tests found.
--
-- The checks run inside the tasks through SHARED.lib (globals are shared by
-- all tasks, so SHARED.lib is not copied; the spawned functions capture
-- only the values under test).
local corun = require "corun"

-- busted's describe/it/assert and the helper's run/shared live in the
-- environment of the spec file, not in _G: taken from the caller.
local describe, it, assert, run, shared

local SEEDS = 200
local MAX_DEPTH = 5

-- ---------------------------------------------------------------------
-- PRNG: a 64-bit LCG; rnd(n) is an integer in 1..n.
-- ---------------------------------------------------------------------
local function prng(seed)
  local x = seed * 0x9E3779B97F4A7C15 + 0x2545F4914F6CDD1D
  return function(n)
    x = x * 6364136223846793005 + 1442695040888963407
    return (x >> 33) % n + 1
  end
end

-- ---------------------------------------------------------------------
-- Fixed metatables: they must travel by reference.
-- ---------------------------------------------------------------------
local MT = {
  A = { __index = { class = "A" } },
  B = { __index = function(_, k) return "B:" .. tostring(k) end },
  C = { __eq = function() return true end, __len = function() return 99 end },
  D = { __newindex = function() error("D is read-only") end,
        __metatable = "locked" },
}
local MT_LIST = { MT.A, MT.B, MT.C, MT.D }
local MT_NAME = {}
for name, mt in pairs(MT) do MT_NAME[mt] = name end

-- ---------------------------------------------------------------------
-- Function factories.  Each closure captures its id as data, so it has
-- data upvalues and must be copied; PLAIN functions have none.
-- ---------------------------------------------------------------------
local function mk_box(id, v)
  return function(op, x)
    if op == "id" then return id
    elseif op == "kind" then return "box"
    elseif op == "get" then return v
    elseif op == "set" then v = x end
  end
end

-- inc and get share the cells of n and id.
local function mk_counter(id, n)
  local function inc(op)
    if op == "id" then return id .. "+"
    elseif op == "kind" then return "inc"
    elseif op == "get" then return n
    elseif op == "inc" then n = n + 1; return n end
  end
  local function get(op)
    if op == "id" then return id .. "="
    elseif op == "kind" then return "get"
    elseif op == "get" then return n end
  end
  return inc, get
end

-- getter and setter share the cells of t (a table of the graph) and s.
local function mk_pair(id, t, s)
  local function getter(op)
    if op == "id" then return id .. "<"
    elseif op == "kind" then return "pairget"
    elseif op == "get" then return t, s end
  end
  local function setter(op, a, b)
    if op == "id" then return id .. ">"
    elseif op == "kind" then return "pairset"
    elseif op == "set" then t, s = a, b end
  end
  return getter, setter
end

-- A closure whose cell holds the closure itself (a cycle through a cell).
local function mk_rec(id, v)
  local self
  self = function(op)
    if op == "id" then return id
    elseif op == "kind" then return "rec"
    elseif op == "get" then return self, v end
  end
  return self
end

-- Functions without data upvalues: none, _ENV only, a module and a C
-- function.  They may cross by identity.
local smod, ctype = string, math.type
local PLAIN = {
  load("return function(op) if op == 'id' then return 'P1' " ..
       "elseif op == 'kind' then return 'plain' end end")(),
  load("return function(op) if op == 'id' then return 'P2' " ..
       "elseif op == 'kind' then return 'plain' end return type(op) end")(),
  function(op)
    if op == "id" then return "P3"
    elseif op == "kind" then return "plain"
    elseif op == "get" then return smod, ctype end
  end,
}

-- ---------------------------------------------------------------------
-- The generator: gen(seed) returns a graph's root, a table of the graph
-- and a function of the graph (more roots for one crossing).
-- ---------------------------------------------------------------------
local SPECIAL_SCALARS = {
  math.maxinteger, math.mininteger, math.huge, -math.huge, -0.0, 0.0, 0,
  2^53, 1e308, "", "\0bin\255ary\n", ("long"):rep(100), "1", true, false,
}
-- Values that cross by identity: the global table, modules, C functions.
local IDENTITY = { _G, string, math, print, math.type }
local SPECIAL_KEYS = { "1", "", math.maxinteger, math.mininteger, 1e100,
                       math.huge, -math.huge, 0, -1, 2^53 }

local function gen(seed)
  local rnd = prng(seed)
  local nid = 0
  local tables, funcs, pending = {}, {}, {}
  local budget = 4 + rnd(24)
  local value, fill

  local function newid(prefix)
    nid = nid + 1
    return prefix .. nid
  end

  local function new_table()
    budget = budget - 1
    local t = { ["#id"] = newid("T") }
    if rnd(3) == 1 then setmetatable(t, MT_LIST[rnd(#MT_LIST)]) end
    tables[#tables + 1] = t
    return t
  end

  local function scalar()
    local r = rnd(6)
    if r == 1 then return rnd(1000) - 500
    elseif r == 2 then return (rnd(1000) - 500) / 8  -- some integral floats
    elseif r == 3 then return "s" .. rnd(100)
    elseif r == 4 then return rnd(2) == 1
    else return SPECIAL_SCALARS[rnd(#SPECIAL_SCALARS)] end
  end

  local function add_func(f)
    funcs[#funcs + 1] = f
    return f
  end

  -- A table of the graph: an ancestor, an existing one, or a new one.
  local function some_table(depth, anc)
    local r = rnd(3)
    if r == 1 then return anc[rnd(#anc)] end
    if r == 2 or budget <= 0 or depth >= MAX_DEPTH then
      return tables[rnd(#tables)]
    end
    return fill(new_table(), depth + 1, anc)
  end

  -- Closures; the second closure of a counter or pair is placed later.
  local function func(depth, anc)
    local r = rnd(6)
    if r == 1 then
      return add_func(mk_box(newid("F"), value(depth + 1, anc)))
    elseif r == 2 then
      local inc, get = mk_counter(newid("F"), rnd(100))
      add_func(inc); add_func(get)
      if rnd(2) == 1 then inc, get = get, inc end
      pending[#pending + 1] = get
      return inc
    elseif r == 3 then
      local getter, setter = mk_pair(newid("F"), some_table(depth, anc),
                                     scalar())
      add_func(getter); add_func(setter)
      if rnd(2) == 1 then getter, setter = setter, getter end
      pending[#pending + 1] = setter
      return getter
    elseif r == 4 then
      return add_func(mk_rec(newid("F"), value(depth + 1, anc)))
    elseif r == 5 then
      return PLAIN[rnd(#PLAIN)]
    end
    if #funcs > 0 then return funcs[rnd(#funcs)] end
    return PLAIN[1]
  end

  local function key(depth, anc)
    local r = rnd(12)
    if r <= 3 then return "k" .. rnd(12)
    elseif r == 4 then return rnd(40) - 10
    elseif r == 5 then return rnd(2) == 1
    elseif r == 6 then return rnd(40) - 20 + 0.5
    elseif r == 7 then return SPECIAL_KEYS[rnd(#SPECIAL_KEYS)]
    elseif r <= 9 then return some_table(depth, anc)
    elseif r == 10 and depth < MAX_DEPTH then return func(depth, anc)
    elseif r == 11 then return IDENTITY[rnd(#IDENTITY)]
    end
    return "name" .. rnd(4)
  end

  function value(depth, anc)
    local r = rnd(21)
    if r == 21 then return IDENTITY[rnd(#IDENTITY)] end
    if r <= 7 then return scalar()
    elseif r <= 9 then return anc[rnd(#anc)]            -- a cycle
    elseif r <= 11 then return tables[rnd(#tables)]     -- shared
    elseif r <= 15 then
      if budget > 0 and depth < MAX_DEPTH then
        return fill(new_table(), depth + 1, anc)
      end
      return scalar()
    elseif r == 16 and #funcs > 0 then return funcs[rnd(#funcs)]
    elseif depth < MAX_DEPTH then return func(depth, anc)
    end
    return scalar()
  end

  -- A key that collides gets a fresh name, so that every new table and
  -- closure made for it stays reachable.
  local function put(t, k, v)
    if rawget(t, k) ~= nil then k = newid("u") end
    rawset(t, k, v)
  end

  function fill(t, depth, anc, n)
    anc[#anc + 1] = t
    for _ = 1, n or rnd(6) - 1 do
      local k = key(depth, anc)
      put(t, k, value(depth, anc))
    end
    if rnd(3) == 1 then
      for i = 1, rnd(5) do
        if rawget(t, i) == nil then rawset(t, i, value(depth, anc)) end
      end
    end
    anc[#anc] = nil
    return t
  end

  local root = fill(new_table(), 0, {}, 3 + rnd(4))
  for i, f in ipairs(pending) do
    put(tables[rnd(#tables)], "p" .. i, f)
  end
  local fn = #funcs > 0 and funcs[rnd(#funcs)] or PLAIN[rnd(#PLAIN)]
  return root, tables[rnd(#tables)], fn
end

-- ---------------------------------------------------------------------
-- Helpers
-- ---------------------------------------------------------------------
local function is_cfunc(f)
  return debug.getinfo(f, "S").what == "C"
end

-- Values of package.loaded that are tables: they cross by identity.
local function module_set()
  local set = {}
  for name, m in pairs(package.loaded) do
    if type(m) == "table" then set[m] = name end
  end
  return set
end

local function is_identity_table(t, mods)
  return rawequal(t, _G) or mods[t] ~= nil
end

-- Has the Lua function f an upvalue holding data (a scalar, nil, a table
-- that is neither the global table nor a module, or a function with data
-- upvalues)?  Only then must it be copied.
local function has_data(f, mods, busy)
  busy = busy or {}
  if busy[f] then return false end
  busy[f] = true
  for i = 1, math.huge do
    local name, v = debug.getupvalue(f, i)
    if name == nil then return false end
    local tv = type(v)
    if tv == "table" then
      if not is_identity_table(v, mods) then return true end
    elseif tv == "function" then
      if not is_cfunc(v) and has_data(v, mods, busy) then return true end
    else
      return true
    end
  end
end

local function label(v)
  if type(v) == "table" then return rawget(v, "#id") end
  if type(v) == "function" and not is_cfunc(v) then return (v("id")) end
end

local function show(v)
  local tv = type(v)
  if tv == "string" then return (string.format("%q", v):gsub("\n", "n"))
  elseif tv == "number" then
    return math.type(v) .. " " .. string.format("%q", v)
  elseif tv == "table" then
    return "table " .. tostring(rawget(v, "#id") or rawequal(v, _G) and "_G"
                                or "?")
  elseif tv == "function" then
    return is_cfunc(v) and "C function" or "function " .. tostring(v("id"))
  end
  return tostring(v)
end

local function scalar_eq(a, b)
  if type(a) == "number" then
    return math.type(a) == math.type(b)
           and string.format("%q", a) == string.format("%q", b)
  end
  return a == b
end

-- Every table and Lua function reachable from roots (through keys, values
-- and upvalues), not entering the global table, modules or metatables.
local function collect(roots)
  local tabs, fns, seen, mods = {}, {}, {}, module_set()
  local function walk(v)
    local tv = type(v)
    if (tv ~= "table" and tv ~= "function") or seen[v] then return end
    seen[v] = true
    if tv == "table" then
      if is_identity_table(v, mods) then return end
      tabs[#tabs + 1] = v
      for k, x in next, v do walk(k); walk(x) end
    elseif not is_cfunc(v) then
      fns[#fns + 1] = v
      for i = 1, math.huge do
        local name, x = debug.getupvalue(v, i)
        if name == nil then break end
        walk(x)
      end
    end
  end
  for i = 1, roots.n or #roots do walk(roots[i]) end
  return tabs, fns
end

-- ---------------------------------------------------------------------
-- The isomorphism check: walks the originals and the copies in parallel
-- with a bijection (tables, functions and upvalue cells).  Returns nil, or
-- a message naming the path where they differ.
-- ---------------------------------------------------------------------
local FAIL = {}

local function iso_check(origs, copies)
  local ab, ba, cab, cba = {}, {}, {}, {}
  local mods = module_set()
  local msg
  local iso

  local function fail(path, fmt, ...)
    msg = path .. ": " .. string.format(fmt, ...)
    error(FAIL, 0)
  end

  local function iso_table(a, b, path)
    local ma, mb = debug.getmetatable(a), debug.getmetatable(b)
    if not rawequal(ma, mb) then
      fail(path, "metatable %s became %s (not passed by reference)",
           MT_NAME[ma] or tostring(ma), MT_NAME[mb] or tostring(mb))
    end
    local index, na, nb = nil, 0, 0
    for k, v in next, a do
      na = na + 1
      local kb, tk = k, type(k)
      if (tk == "table" and is_identity_table(k, mods))
         or (tk == "function" and is_cfunc(k)) then
        kb = k  -- must cross by identity: checked by iso below
      elseif tk == "table" or tk == "function" then
        kb = ab[k]
        if kb == nil then  -- find the copy of the key by its label
          if index == nil then
            index = {}
            for kk in next, b do
              local tkk = type(kk)
              if tkk == "table" or tkk == "function" then
                local l = label(kk)
                if l ~= nil then index[l] = kk end
              end
            end
          end
          kb = index[label(k)]
          if kb == nil then
            fail(path, "key %s has no counterpart in the copy", show(k))
          end
        end
        iso(k, kb, path .. "{key " .. show(k) .. "}")
      end
      local vb = rawget(b, kb)
      if vb == nil then fail(path, "key %s is missing in the copy", show(k)) end
      iso(v, vb, path .. "[" .. show(k) .. "]")
    end
    for _ in next, b do nb = nb + 1 end
    if na ~= nb then fail(path, "%d entries became %d", na, nb) end
  end

  local function iso_func(a, b, path)
    if is_cfunc(a) or is_cfunc(b) then
      if not rawequal(a, b) then
        fail(path, "a C function was not passed by identity")
      end
      return
    end
    local ida, idb = a("id"), b("id")
    if ida ~= idb or a("kind") ~= b("kind") then
      fail(path, "function %s (%s) became %s (%s)", tostring(ida),
           tostring(a("kind")), tostring(idb), tostring(b("kind")))
    end
    if rawequal(a, b) then
      if has_data(a, mods) then
        fail(path, "function %s has data upvalues but is the original " ..
             "closure", ida)
      end
      return
    end
    for i = 1, math.huge do
      local name_a, va = debug.getupvalue(a, i)
      local name_b, vb = debug.getupvalue(b, i)
      if name_a ~= name_b then
        fail(path, "function %s: upvalue %d is %s in the copy, %s in the " ..
             "original", ida, i, tostring(name_b), tostring(name_a))
      end
      if name_a == nil then break end
      local ca, cb = debug.upvalueid(a, i), debug.upvalueid(b, i)
      local m = cab[ca]
      if m == nil then
        if cba[cb] ~= nil then
          fail(path, "function %s, upvalue '%s': the copy shares a cell " ..
               "that is distinct in the original", ida, name_a)
        end
        cab[ca], cba[cb] = cb, ca
      elseif m ~= cb then
        fail(path, "function %s, upvalue '%s': a cell shared in the " ..
             "original is not shared in the copy", ida, name_a)
      end
      iso(va, vb, path .. "^" .. name_a)
    end
    -- and by calling them
    local ra, rb = table.pack(a("get")), table.pack(b("get"))
    if ra.n ~= rb.n then
      fail(path, "function %s returns %d values, its copy %d", ida, ra.n,
           rb.n)
    end
    for i = 1, ra.n do iso(ra[i], rb[i], path .. "()" .. i) end
  end

  function iso(a, b, path)
    local ta = type(a)
    if ta ~= type(b) then
      fail(path, "%s became %s", show(a), show(b))
    end
    if ta ~= "table" and ta ~= "function" then
      if not scalar_eq(a, b) then
        fail(path, "%s became %s", show(a), show(b))
      end
      return
    end
    local m = ab[a]
    if m ~= nil then
      if not rawequal(m, b) then
        fail(path, "%s is reached again, but the copy reaches another " ..
             "value here (sharing or a cycle was lost)", show(a))
      end
      return
    end
    if ba[b] ~= nil then
      fail(path, "the copy reaches one value for %s and %s", show(ba[b]),
           show(a))
    end
    ab[a], ba[b] = b, a
    if ta == "table" then
      if is_identity_table(a, mods) or is_identity_table(b, mods) then
        if not rawequal(a, b) then
          fail(path, "the global table or a module was not passed by " ..
               "identity")
        end
        return
      end
      iso_table(a, b, path)
    else
      iso_func(a, b, path)
    end
  end

  local ok, err = pcall(function()
    if (origs.n or #origs) ~= (copies.n or #copies) then
      fail("roots", "%d values became %d", origs.n or #origs,
           copies.n or #copies)
    end
    for i = 1, origs.n or #origs do
      iso(origs[i], copies[i], "value " .. i)
    end
  end)
  if not ok then
    if err == FAIL then return msg end
    return "check raised: " .. tostring(err)
  end
  return nil
end

-- What values reachable from roots hold on to: the tables, the Lua
-- functions with data upvalues (functions without may cross by identity)
-- and the upvalue cells of those functions.  Metatables are not entered.
local function footprint(roots)
  local mods = module_set()
  local tabs, fns = collect(roots)
  local objs, cells = {}, {}
  for _, t in ipairs(tabs) do objs[t] = true end
  for _, f in ipairs(fns) do
    if has_data(f, mods) then
      objs[f] = true
      for i = 1, math.huge do
        local name = debug.getupvalue(f, i)
        if name == nil then break end
        cells[debug.upvalueid(f, i)] = { f, name }
      end
    end
  end
  return { objs = objs, cells = cells }
end

-- nil, or a message if footprints a and b share a table, a function with
-- data upvalues or an upvalue cell.
local function overlap(a, b)
  for o in pairs(b.objs) do
    if a.objs[o] then return "both hold " .. show(o) end
  end
  for c, where in pairs(b.cells) do
    if a.cells[c] then
      return ("%s and %s share the cell of upvalue '%s'"):format(
        show(a.cells[c][1]), show(where[1]), where[2])
    end
  end
  return nil
end

-- Does the copy share a data table, a closure with data or an upvalue cell
-- with the original (API.md: never)?  nil or a message.
local function sharing_check(origs, copies)
  return overlap(footprint(origs), footprint(copies))
end

-- ---------------------------------------------------------------------
-- Snapshots: a description of everything reachable, by label, as a
-- sorted array of lines.
-- ---------------------------------------------------------------------
local function snapshot(roots)
  local lines, seen, mods = {}, {}, module_set()
  local token

  local function visit(v, name)
    if seen[v] then return end
    seen[v] = true
    -- (token() adds lines: each line is made before it is appended)
    local line
    if type(v) == "table" then
      local mt = debug.getmetatable(v)
      lines[#lines + 1] = name .. " mt=" .. (mt and (MT_NAME[mt] or "?")
                                             or "none")
      for k, x in next, v do
        line = name .. " [" .. token(k) .. "]=" .. token(x)
        lines[#lines + 1] = line
      end
    else
      for i = 1, math.huge do
        local up, x = debug.getupvalue(v, i)
        if up == nil then break end
        line = name .. " ^" .. up .. "=" .. token(x)
        lines[#lines + 1] = line
      end
    end
  end

  function token(v)
    local tv = type(v)
    if tv == "table" then
      if rawequal(v, _G) then return "_G" end
      if mods[v] then return "module " .. mods[v] end
      local name = "T" .. tostring(rawget(v, "#id") or "?")
      visit(v, name)
      return name
    elseif tv == "function" then
      if is_cfunc(v) then return "C " .. tostring(v) end
      local name = "F" .. tostring(v("id"))
      visit(v, name)
      return name
    end
    return show(v)
  end

  for i = 1, roots.n or #roots do
    local line = "root " .. i .. "=" .. token(roots[i])
    lines[#lines + 1] = line
  end
  table.sort(lines)
  return lines
end

-- nil if the two descriptions are equal, else the first difference.
local function compare(before, after)
  for i = 1, math.max(#before, #after) do
    if before[i] ~= after[i] then
      return ("line %d was %s, is %s"):format(i, tostring(before[i]),
                                              tostring(after[i]))
    end
  end
  return nil
end

-- Mutate every table and every closure cell reachable from roots.
local function mutate(roots, tag)
  local tabs, fns = collect(roots)
  for _, t in ipairs(tabs) do
    local keys = {}
    for k in next, t do keys[#keys + 1] = k end
    for _, k in ipairs(keys) do
      if k ~= "#id" then
        local v = rawget(t, k)
        local tv = type(v)
        if tv == "number" then
          local w = v + 1
          rawset(t, k, w == v and tag or w)
        elseif tv == "string" then rawset(t, k, v .. tag)
        elseif tv == "boolean" then rawset(t, k, not v)
        else rawset(t, k, tag) end
      end
    end
    rawset(t, "mutated by", tag)
  end
  for _, f in ipairs(fns) do
    local kind = f("kind")
    if kind == "box" then f("set", tag)
    elseif kind == "inc" then f("inc")
    elseif kind == "pairset" then f("set", { tag }, tag) end
  end
end

-- Check that the cells shared by the closures of the copy are still
-- shared, by calling them, and that the originals do not change.  'copies'
-- and 'origs' are arrays of roots.  Returns nil or a message.
local function cells_check(origs, copies)
  local _, cfns = collect(copies)
  local _, ofns = collect(origs)
  local orig, copy = {}, {}
  for _, f in ipairs(ofns) do orig[f("id")] = f end
  for _, f in ipairs(cfns) do copy[f("id")] = f end
  local function up(f, name)
    for i = 1, math.huge do
      local n = debug.getupvalue(f, i)
      if n == nil then return nil end
      if n == name then return debug.upvalueid(f, i) end
    end
  end
  local checked = 0
  for id, f in pairs(copy) do
    local kind, base = f("kind"), id:sub(1, -2)
    if kind == "inc" then
      local get, oinc, oget = copy[base .. "="], orig[id], orig[base .. "="]
      if not (get and oinc and oget) then
        return "counter " .. base .. " lost a closure in the copy"
      end
      if up(f, "n") ~= up(get, "n") or up(f, "id") ~= up(get, "id") then
        return "counter " .. base .. ": inc and get do not share their " ..
               "cells in the copy"
      end
      local n0, o0 = get("get"), oget("get")
      if f("inc") ~= n0 + 1 or get("get") ~= n0 + 1 then
        return "counter " .. base .. ": get does not see inc in the copy"
      end
      if oget("get") ~= o0 or oinc("get") ~= o0 then
        return "counter " .. base .. ": the original sees the copy's inc"
      end
      checked = checked + 1
    elseif kind == "pairset" then
      local get, oset, oget = copy[base .. "<"], orig[id], orig[base .. "<"]
      if not (get and oset and oget) then
        return "pair " .. base .. " lost a closure in the copy"
      end
      if up(f, "t") ~= up(get, "t") or up(f, "s") ~= up(get, "s") then
        return "pair " .. base .. ": getter and setter do not share " ..
               "their cells in the copy"
      end
      local ot, os = oget("get")
      local nt = {}
      f("set", nt, "set in the copy")
      local gt, gs = get("get")
      if not rawequal(gt, nt) or gs ~= "set in the copy" then
        return "pair " .. base .. ": the getter does not see the setter " ..
               "in the copy"
      end
      local ot2, os2 = oget("get")
      if not rawequal(ot, ot2) or os ~= os2 then
        return "pair " .. base .. ": the original sees the copy's setter"
      end
      checked = checked + 1
    elseif kind == "rec" then
      if not rawequal(f("get"), f) then
        return "closure " .. id .. " does not find itself in its cell"
      end
    elseif kind == "box" then
      local old = orig[id]("get")
      f("set", "set in the copy")
      if f("get") ~= "set in the copy" then
        return "box " .. id .. " does not keep what was set"
      end
      if not rawequal(orig[id]("get"), old) then
        return "box " .. id .. ": the original sees the copy's set"
      end
    end
  end
  return nil, checked
end

local lib = {
  gen = gen, iso_check = iso_check, sharing_check = sharing_check,
  snapshot = snapshot, compare = compare, mutate = mutate,
  cells_check = cells_check, collect = collect,
  footprint = footprint, overlap = overlap,
}

-- ---------------------------------------------------------------------
-- Driving
-- ---------------------------------------------------------------------

-- Run body(seed) in a fresh runtime for every seed; body returns nil or a
-- message, and the first message fails the test, naming its seed.
local function for_seeds(body)
  local s = shared()
  s.lib = lib
  for seed = 1, SEEDS do
    local ok, msg = pcall(run, body, seed)
    if not ok then msg = "raised: " .. tostring(msg) end
    if msg ~= nil then
      assert.is_nil(msg, ("seed %d: %s"):format(seed, tostring(msg)))
    end
  end
end

-- nil or a message: the task's first result, or why it failed.
local function awaited(ok, ...)
  if ok ~= true then return "the task failed: " .. tostring((...)) end
  return (...)
end

-- The _ENV of the function that called our caller (or _G).
local function caller_env()
  local f = debug.getinfo(3, "f").func
  for i = 1, math.huge do
    local name, v = debug.getupvalue(f, i)
    if name == nil then break end
    if name == "_ENV" then return v end
  end
  return _G
end

return function(env)
  env = env or caller_env()
  describe, it, assert = env.describe, env.it, env.assert
  run, shared = env.run, env.shared
  describe("transfer (property tests over " .. SEEDS .. " random graphs)",
           function()
    it("copies random graphs into a task as arguments with their shape",
       function()
      for_seeds(function(seed)
        local g, node, fn = gen(seed)
        SHARED.orig = { g, node, fn, g }
        return awaited(corun.spawn(function(...)
          return SHARED.lib.iso_check(SHARED.orig, table.pack(...))
        end, g, node, fn, g):await())
      end)
    end)

    it("copies random graphs into a task as upvalues with their shape",
       function()
      for_seeds(function(seed)
        local g, node, fn = gen(seed)
        SHARED.orig = { g, node, fn }
        local h = corun.spawn(function()
          return SHARED.lib.iso_check(SHARED.orig, { g, node, fn })
        end)
        if not rawequal(g, SHARED.orig[1]) then
          return "the spawner's local no longer holds its own graph"
        end
        return awaited(h:await())
      end)
    end)

    it("copies a graph once for the upvalues and arguments of one spawn",
       function()
      for_seeds(function(seed)
        local g, node, fn = gen(seed)
        SHARED.orig = { g, node, fn, g, node, fn }
        return awaited(corun.spawn(function(a, b, c)
          return SHARED.lib.iso_check(SHARED.orig, { g, node, fn, a, b, c })
        end, g, node, fn):await())
      end)
    end)

    it("copies random graphs out of a task as results with their shape",
       function()
      for_seeds(function(seed)
        local r = table.pack(corun.spawn(function(sd)
          local g, node, fn = SHARED.lib.gen(sd)
          SHARED.orig = { g, node, fn, node }
          return g, node, fn, node
        end, seed):await())
        if r[1] ~= true then return "the task failed: " .. tostring(r[2]) end
        return iso_check(SHARED.orig, { r[2], r[3], r[4], r[5] })
      end)
    end)

    it("copies random graphs raised by a task with their shape", function()
      for_seeds(function(seed)
        local ok, err = corun.spawn(function(sd)
          local g = SHARED.lib.gen(sd)
          SHARED.orig = { g }
          error(g)
        end, seed):await()
        if ok then return "the task did not fail" end
        local pok, value = pcall(err.into_panic, err)
        if not pok then return "into_panic raised: " .. tostring(value) end
        return iso_check(SHARED.orig, { value })
      end)
    end)

    it("shares no data table, closure or cell with the original", function()
      for_seeds(function(seed)
        local g, node, fn = gen(seed)
        SHARED.orig = { g, node, fn }
        local msg = awaited(corun.spawn(function(a, b)
          return SHARED.lib.sharing_check(SHARED.orig, { g, a, b })
        end, node, fn):await())
        if msg then return "into a task: " .. msg end
        local r = table.pack(corun.spawn(function(sd)
          local g2, node2, fn2 = SHARED.lib.gen(sd)
          SHARED.orig = { g2, node2, fn2 }
          return g2, node2, fn2
        end, seed):await())
        if r[1] ~= true then return "the task failed: " .. tostring(r[2]) end
        msg = sharing_check(SHARED.orig, { r[2], r[3], r[4] })
        if msg then return "out of a task: " .. msg end
      end)
    end)

    it("keeps mutations inside the task invisible to the spawner",
       function()
      for_seeds(function(seed)
        local g, node, fn = gen(seed)
        local before = snapshot({ g, node, fn })
        local msg = awaited(corun.spawn(function(a, b)
          SHARED.lib.mutate({ g, a, b }, "task")
          corun.sleep(0)
          SHARED.lib.mutate({ g, a, b }, "again")
        end, node, fn):await())
        if msg then return msg end
        msg = compare(before, snapshot({ g, node, fn }))
        if msg then return "the spawner's graph changed: " .. msg end
      end)
    end)

    it("keeps the awaiter's mutations of results invisible to the task",
       function()
      for_seeds(function(seed)
        local h = corun.spawn(function(sd)
          local g, node, fn = SHARED.lib.gen(sd)
          SHARED.orig = { g, node, fn }
          SHARED.before = SHARED.lib.snapshot(SHARED.orig)
          return g, node, fn
        end, seed)
        local r = table.pack(h:await())
        if r[1] ~= true then return "the task failed: " .. tostring(r[2]) end
        mutate({ r[2], r[3], r[4] }, "awaiter")
        local msg = compare(SHARED.before, snapshot(SHARED.orig))
        if msg then return "the task's values changed: " .. msg end
      end)
    end)

    it("keeps the spawner's mutations invisible to the task", function()
      for_seeds(function(seed)
        local g, node, fn = gen(seed)
        SHARED.before = snapshot({ g, node, fn })
        SHARED.ready, SHARED.mutated = false, false
        local h = corun.spawn(function(a, b)
          local lib = SHARED.lib
          local first = lib.snapshot({ g, a, b })
          local msg = lib.compare(SHARED.before, first)
          if msg then return "the copy differs from the original: " .. msg end
          SHARED.ready = true
          for _ = 1, 100 do
            if SHARED.mutated then break end
            corun.sleep(0)
          end
          if not SHARED.mutated then return "the spawner never mutated" end
          msg = lib.compare(first, lib.snapshot({ g, a, b }))
          if msg then return "the copy changed: " .. msg end
        end, node, fn)
        -- mutated before the task starts: the copy was taken at spawn
        mutate({ g, node, fn }, "spawner")
        for _ = 1, 100 do
          if SHARED.ready then break end
          corun.sleep(0)
        end
        -- and while the task runs, including the captured local itself
        mutate({ g, node, fn }, "spawner again")
        g = "reassigned by the spawner"
        SHARED.mutated = true
        return awaited(h:await())
      end)
    end)

    it("gives every task spawned from one closure its own copy",
       function()
      for_seeds(function(seed)
        local g, node, fn = gen(seed)
        local before = snapshot({ g, node, fn })
        SHARED.orig, SHARED.prints = { g, node, fn }, {}
        local function work(i)
          local lib = SHARED.lib
          local msg = lib.iso_check(SHARED.orig, { g, node, fn })
          if msg then return msg end
          SHARED.prints[i] = lib.footprint({ g, node, fn })
          corun.sleep(0)
          lib.mutate({ g, node, fn }, "task " .. i)
          corun.sleep(0)
        end
        local h1 = corun.spawn(work, 1)
        local h2 = corun.spawn(work, 2)  -- while task 1 lives
        local msg = awaited(h1:await()) or awaited(h2:await())
        if msg then return msg end
        msg = awaited(corun.spawn(work, 3):await())  -- after they ended
        if msg then return "task 3: " .. msg end
        local prints = SHARED.prints
        prints[0] = footprint(SHARED.orig)
        for i = 0, 3 do
          for j = i + 1, 3 do
            msg = overlap(prints[i], prints[j])
            if msg then
              return ("%s and task %d: %s"):format(
                i == 0 and "the spawner" or "task " .. i, j, msg)
            end
          end
        end
        msg = compare(before, snapshot({ g, node, fn }))
        if msg then return "the spawner's graph changed: " .. msg end
      end)
    end)

    it("keeps shared upvalue cells shared in the copy", function()
      local counted = 0
      for_seeds(function(seed)
        local g, node, fn = gen(seed)
        SHARED.orig = { g, node, fn }
        local ok, msg, n = corun.spawn(function(a, b)
          return SHARED.lib.cells_check(SHARED.orig, { g, a, b })
        end, node, fn):await()
        if ok ~= true then return "the task failed: " .. tostring(msg) end
        if msg then return msg end
        counted = counted + n
        -- and out of a task
        local r = table.pack(corun.spawn(function(sd)
          local g2, node2, fn2 = SHARED.lib.gen(sd)
          SHARED.orig = { g2, node2, fn2 }
          return g2, node2, fn2
        end, seed):await())
        if r[1] ~= true then return "the task failed: " .. tostring(r[2]) end
        return (cells_check(SHARED.orig, { r[2], r[3], r[4] }))
      end)
      assert.is_true(counted >= SEEDS, "too few counters and pairs made")
    end)
  end)

  -- The smallest cases of what the property tests above found.
  describe("transfer (minimal cases from the property tests)", function()
    it("keeps one cell for two closures when the cell's value reaches one " ..
       "of them", function()
      local ok, same, got = run(function()
        local obj = {}
        local function get() return obj end
        local function set(v) obj = v end
        obj.set = set  -- copying get's cell reaches set, over the same cell
        return corun.spawn(function(g)
          g().set("replaced")
          return g() == "replaced", g()
        end, get):await()
      end)
      assert.is_true(ok)
      assert.is_true(same, "get() returned " .. tostring(got))
    end)

    it("gives a copied closure its own cell for an upvalue holding a " ..
       "function", function()
      local still = run(function()
        local n, handler = 0, print
        local function set(h) n = n + 1; handler = h end
        corun.spawn(function(f) f(tostring) end, set):await()
        return rawequal(handler, print)
      end)
      assert.is_true(still, "the task reassigned the spawner's local")
    end)

    -- By design (issue 3, docs/api.md): a function whose upvalues hold only
    -- values passed by identity is not copied at all, so its cells stay
    -- shared with the spawner.
    it("passes a closure whose upvalues hold only functions as it is",
       function()
      local reassigned = run(function()
        local handler = print
        local function set(h) handler = h end
        corun.spawn(function() set(tostring) end):await()
        return rawequal(handler, tostring)
      end)
      assert.is_true(reassigned)
    end)

    it("copies a table that is no longer a value of package.loaded",
       function()
      local s = shared()
      local t = { "data" }
      run(function()
        package.loaded["transfer_props.tmp"] = t  -- a module for a while
        corun.spawn(function() end, t):await()
        package.loaded["transfer_props.tmp"] = nil
        corun.spawn(function(a) SHARED.got = a end, t):await()
      end)
      assert.same({ "data" }, s.got)
      assert.is_false(rawequal(s.got, t), "the task got the spawner's table")
    end)

    -- By design (API.md: fn is moved into the task, as with async move):
    -- the spawner that calls the function again after spawning it works on
    -- the task's copies, while its own variable keeps its value.
    it("moves the spawned function: later calls by the spawner use the " ..
       "task's copies", function()
      local s = shared()
      s.seen = {}
      run(function()
        local t = {}
        SHARED.original = t
        local function work() SHARED.seen[#SHARED.seen + 1] = t end
        local h = corun.spawn(work)
        work()  -- the spawner calls its function again
        h:await()
      end)
      assert.equal(2, #s.seen)
      assert.is_true(rawequal(s.seen[1], s.seen[2]))
      assert.is_false(rawequal(s.seen[1], s.original))
    end)
  end)
end
