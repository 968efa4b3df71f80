-- Counts the 409 answers (a full slot in the booking rush) and the 5xx ones in each wrk thread, for report.lua.
-- Needs threads.lua (all_threads).
answered_409 = 0
answered_5xx = 0

function response(status, headers, body)
  if status == 409 then
    answered_409 = answered_409 + 1
  elseif status >= 500 then
    answered_5xx = answered_5xx + 1
  end
end
