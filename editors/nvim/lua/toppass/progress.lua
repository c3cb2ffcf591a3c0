-- The server's work-done progress while it samples and ranks (`$/progress` begin/report/end,
-- cancellable), kept per client from the LspProgress autocmd: for :ToppassCancel (which tokens
-- to cancel), the statusline component require("toppass").status(), and the default display
-- (a one-line echo that updates in place, not kept in :messages).
local M = {}

---@class toppass.Progress
---@field token integer|string
---@field title string
---@field message? string
---@field percentage? integer
---@field cancellable boolean
---@field started integer order of the begin messages

--- client id -> token -> progress, for the toppass clients.
---@type table<integer, table<integer|string, toppass.Progress>>
local active = {}

--- The progress one client reports now, oldest first.
---@param client_id integer
---@return toppass.Progress[]
function M.active(client_id)
  local list = vim.tbl_values(active[client_id] or {})
  table.sort(list, function(a, b)
    return a.started < b.started
  end)
  return list
end

--- Every toppass progress now running, over the clients still running, oldest first.
---@return toppass.Progress[]
function M.all()
  local list = {}
  for client_id in pairs(active) do
    if vim.lsp.get_client_by_id(client_id) == nil then
      active[client_id] = nil -- it stopped: no `end` will come
    else
      vim.list_extend(list, M.active(client_id))
    end
  end
  table.sort(list, function(a, b)
    return a.started < b.started
  end)
  return list
end

--- "toppass: f(): sampling 3/16 (17%)".
---@param progress toppass.Progress
---@return string
function M.text(progress)
  local text = progress.title
  if progress.message and progress.message ~= "" then
    text = text .. ": " .. progress.message
  end
  if progress.percentage then
    text = ("%s (%d%%)"):format(text, progress.percentage)
  end
  return text
end

local function echo(text)
  -- Never longer than the command line, which would ask for Enter.
  local room = math.max(vim.v.echospace, 0)
  if #text > room then
    text = text:sub(1, math.max(room - 1, 0)) .. (room > 0 and "…" or "")
  end
  vim.api.nvim_echo({ { text } }, false, {})
end

local sequence = 0

--- Record one `$/progress` params and show it.
---@param client_id integer
---@param params lsp.ProgressParams
---@param display {show: boolean, cancel_hint?: string}
function M.update(client_id, params, display)
  local value = params.value
  if type(value) ~= "table" then
    return
  end
  local by_token = active[client_id] or {}
  active[client_id] = by_token
  local progress = by_token[params.token]
  if value.kind == "begin" then
    sequence = sequence + 1
    progress = {
      token = params.token,
      title = value.title or "toppass",
      message = value.message,
      percentage = value.percentage,
      cancellable = value.cancellable == true,
      started = sequence,
    }
    by_token[params.token] = progress
  elseif progress == nil then
    return -- begun before we listened
  elseif value.kind == "report" then
    progress.message = value.message or progress.message
    progress.percentage = value.percentage or progress.percentage
    if value.cancellable ~= nil then
      progress.cancellable = value.cancellable
    end
  elseif value.kind == "end" then
    by_token[params.token] = nil
    if next(by_token) == nil then
      active[client_id] = nil
    end
  end

  if display.show then
    if value.kind == "end" then
      if value.message == "cancelled" then
        vim.notify(progress.title .. ": cancelled, nothing applied", vim.log.levels.INFO)
      else
        echo("") -- the offer (vim.ui.select) or the server's message comes next
      end
    else
      local hint = progress.cancellable and display.cancel_hint or nil
      echo(M.text(progress) .. (hint and ("  [" .. hint .. " cancels]") or ""))
    end
  end
  vim.cmd.redrawstatus({ bang = true })
end

return M
