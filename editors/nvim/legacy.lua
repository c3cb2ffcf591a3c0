-- toppass for Neovim 0.8-0.10 (before vim.lsp.config): start toppass-ls for Python buffers.
-- Set first: vim.g.toppass_settings (any keys of lua/toppass/settings.lua), e.g.
--   { provider = "openai", openai = { baseUrl = "http://localhost:8000/v1" } },
-- and vim.g.toppass_cmd if toppass-ls is not on PATH.
local settings = { toppass = vim.g.toppass_settings or {} }
vim.api.nvim_create_autocmd("FileType", {
  pattern = "python",
  callback = function(args)
    local file = vim.api.nvim_buf_get_name(args.buf)
    local markers = { "pyproject.toml", "setup.py", ".git" }
    local marker = vim.fs.find(markers, { upward = true, path = vim.fs.dirname(file) })[1]
    vim.lsp.start({
      name = "toppass",
      cmd = vim.g.toppass_cmd or { "toppass-ls", "--stdio" },
      root_dir = vim.fs.dirname(marker or file),
      settings = settings,
      init_options = settings,
    })
    vim.keymap.set("n", "<leader>ta", function()
      vim.lsp.buf.code_action({
        filter = function(action) return action.title:find("^toppass[ :#]") ~= nil end,
        apply = true,
      })
    end, { buffer = args.buf, desc = "toppass: ranked candidates for this function" })
  end,
})
