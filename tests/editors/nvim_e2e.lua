-- Init file for the headless Neovim end-to-end test (tests/editors/test_nvim_e2e.py). It loads the
-- toppass config from editors/nvim the way a user would, plays one scenario through the real
-- Neovim LSP client, and writes what happened as JSON to $TOPPASS_E2E_OUT, then quits.
--
-- $TOPPASS_E2E is a JSON object: { editors_nvim, config = "setup"|"legacy", cmd, settings,
-- line (0-based), request_log (the fake endpoint's, optional), scenario = "keymap" |
-- "dismiss_then_list" | "cancel", sampling_file (cancel: appears once the endpoint is called) }.
local spec = vim.json.decode(os.getenv("TOPPASS_E2E"))
local out_path = os.getenv("TOPPASS_E2E_OUT")
local result = { offered = {}, messages = {}, steps = {}, notified = {}, progress = {} }
local dismiss_next_message = spec.scenario == "dismiss_then_list"

vim.opt.rtp:prepend(spec.editors_nvim)
vim.g.mapleader = "\\"
vim.o.swapfile = false
vim.cmd("filetype on")

-- The user's choice: record what was offered, pick the first item (or dismiss once).
vim.ui.select = function(items, opts, on_choice)
  local labels = {}
  for i, item in ipairs(items) do
    labels[i] = opts.format_item and opts.format_item(item) or tostring(item)
  end
  table.insert(result.offered, { kind = opts.kind, prompt = opts.prompt, items = labels })
  if opts.kind == "lsp_message" and dismiss_next_message then
    dismiss_next_message = false
    on_choice(nil, nil)
  else
    on_choice(items[1], 1)
  end
end

-- Keep what the server tells the user (errors such as an unreachable endpoint).
local show_message = vim.lsp.handlers["window/showMessage"]
vim.lsp.handlers["window/showMessage"] = function(err, params, ctx)
  table.insert(result.messages, params.message)
  return show_message(err, params, ctx)
end

-- What the plugin tells the user through vim.notify (e.g. "cancelled, nothing applied").
vim.notify = function(message, level)
  table.insert(result.notified, { message = message, level = level })
end

-- Every $/progress value from toppass-ls, in order, and what the statusline showed meanwhile.
vim.api.nvim_create_autocmd("LspProgress", {
  callback = function(args)
    local value = args.data.params.value
    table.insert(result.progress, {
      kind = value.kind,
      title = value.title,
      message = value.message,
      cancellable = value.cancellable,
      status = package.loaded.toppass and require("toppass").status() or nil,
    })
  end,
})

-- The user's config: an error here is reported like any other, not left hanging.
local setup_ok, setup_err = xpcall(function()
  if spec.config == "legacy" then
    vim.g.toppass_settings = spec.settings
    vim.g.toppass_cmd = spec.cmd
    dofile(spec.editors_nvim .. "/legacy.lua")
  else
    require("toppass").setup({ cmd = spec.cmd, settings = spec.settings })
  end
end, debug.traceback)

local function step(name)
  table.insert(result.steps, name)
end

local function wait_for(what, timeout_ms, predicate)
  if not vim.wait(timeout_ms, predicate, 50) then
    error("timed out waiting for " .. what, 0)
  end
end

local function count_requests()
  if spec.request_log == nil then
    return 0
  end
  local file = io.open(spec.request_log, "r")
  if file == nil then
    return 0
  end
  local n = 0
  for _ in file:lines() do
    n = n + 1
  end
  file:close()
  return n
end

-- Whether the toppass client still waits for a response to `method`.
local function pending(buf, method)
  local client = vim.lsp.get_clients({ bufnr = buf, name = "toppass" })[1]
  for _, request in pairs(client and client.requests or {}) do
    if request.type == "pending" and request.method == method then
      return true
    end
  end
  return false
end

local function press(keys)
  vim.api.nvim_feedkeys(vim.api.nvim_replace_termcodes(keys, true, false, true), "mx", false)
end

local function run()
  local buf = vim.api.nvim_get_current_buf()
  result.filetype = vim.bo[buf].filetype
  wait_for("toppass-ls to attach", 60000, function()
    local client = vim.lsp.get_clients({ bufnr = buf, name = "toppass" })[1]
    return client ~= nil and client.initialized == true
  end)
  step("attached")
  result.keymap = vim.fn.maparg("<leader>ta", "n") ~= ""
  result.cancel_keymap = vim.fn.maparg("<leader>tc", "n") ~= ""
  vim.api.nvim_win_set_cursor(0, { spec.line + 1, 0 })
  local tick = vim.api.nvim_buf_get_changedtick(buf)

  if spec.scenario == "cancel" then
    -- The endpoint answers slowly: cancel while the server samples, with the plugin's command.
    vim.cmd("Toppass")
    step(":Toppass")
    wait_for("the server's progress to begin", 60000, function()
      return require("toppass").status() ~= ""
    end)
    step("progress")
    wait_for("the endpoint to be called", 60000, function()
      return vim.uv.fs_stat(spec.sampling_file) ~= nil
    end)
    result.status_while_running = require("toppass").status()
    local started = vim.uv.hrtime()
    vim.cmd("ToppassCancel")
    step(":ToppassCancel")
    wait_for("the generation to stop", 30000, function()
      return not pending(buf, "workspace/executeCommand") and require("toppass").status() == ""
    end)
    result.stopped_after_ms = (vim.uv.hrtime() - started) / 1e6
    step("stopped")
    vim.wait(1000) -- anything the server still sent would arrive now
    result.changed = vim.api.nvim_buf_get_changedtick(buf) ~= tick
    result.status_after = require("toppass").status()
    vim.cmd("ToppassCancel") -- nothing runs now
    result.lines = vim.api.nvim_buf_get_lines(buf, 0, -1, false)
    return
  end

  if spec.scenario == "keymap" then
    press("<leader>ta")
    step("pressed keymap")
  else
    vim.cmd("Toppass")
    step(":Toppass")
    wait_for("the ranked candidates to be offered", spec.timeout_ms or 120000, function()
      return #result.offered >= 1
    end)
    step("dismissed")
    -- Nothing may be applied after dismissing: wait for the command's own answer.
    wait_for("workspace/executeCommand to finish", spec.timeout_ms or 120000, function()
      return not pending(buf, "workspace/executeCommand")
    end)
    result.changed_after_dismiss = vim.api.nvim_buf_get_changedtick(buf) ~= tick
    result.requests_at_dismiss = count_requests()
    press("<leader>ta")
    step("pressed keymap")
  end

  wait_for("the chosen candidate to be applied", spec.timeout_ms or 120000, function()
    return vim.api.nvim_buf_get_changedtick(buf) ~= tick
  end)
  step("applied")
  -- The server logs the application once the editor has answered its edit (the command) or
  -- run the code action's command: wait for those answers before quitting.
  wait_for("workspace/executeCommand to finish", spec.timeout_ms or 120000, function()
    return not pending(buf, "workspace/executeCommand")
  end)
  result.requests_at_end = count_requests()
  result.lines = vim.api.nvim_buf_get_lines(buf, 0, -1, false)
end

local function finish(err)
  result.error = err
  if result.lines == nil then
    result.lines = vim.api.nvim_buf_get_lines(0, 0, -1, false)
  end
  local file = assert(io.open(out_path, "w"))
  file:write(vim.json.encode(result))
  file:close()
  vim.cmd("qall!")
end

vim.api.nvim_create_autocmd("VimEnter", {
  once = true,
  callback = function()
    vim.schedule(function()
      if not setup_ok then
        return finish("loading the config: " .. tostring(setup_err))
      end
      local ok, err = xpcall(run, debug.traceback)
      finish(not ok and tostring(err) or nil)
    end)
  end,
})
