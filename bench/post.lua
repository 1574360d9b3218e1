-- wrk script of the write loads: one text reply per request, as a 4chan client posts it
-- (POST /{board}/post, form fields resto/com/pwd, Accept: application/json -> 201).
--   wrk -s bench/post.lua http://127.0.0.1:PORT -- BOARD THREAD_NOS COMMENTS_FILE
-- THREAD_NOS: comma-separated thread numbers, one picked at random per reply.
-- COMMENTS_FILE: reply texts, one per line (the raw-driver baseline inserts the same ones).

local counter = 0
local next_id = 0
local board, threads, texts = "b", {}, {}
local headers = {
  ["Content-Type"] = "application/x-www-form-urlencoded",
  ["Accept"] = "application/json",
}

local function urlencode(s)
  local encoded = s:gsub("[^%w%-%._~ ]", function(c) return string.format("%%%02X", string.byte(c)) end)
  return (encoded:gsub(" ", "+"))
end

function setup(thread)
  next_id = next_id + 1
  thread:set("id", next_id)
end

function init(args)
  board = args[1]
  for n in string.gmatch(args[2], "%d+") do threads[#threads + 1] = n end
  for line in io.lines(args[3]) do
    if #line > 0 then texts[#texts + 1] = line end
  end
  math.randomseed(os.time() * 100 + id)
end

function request()
  counter = counter + 1
  local thread = threads[math.random(#threads)]
  local text = texts[math.random(#texts)] .. " #" .. id .. "-" .. counter
  local body = "resto=" .. thread .. "&com=" .. urlencode(text) .. "&pwd=benchpass"
  return wrk.format("POST", "/" .. board .. "/post", headers, body)
end
