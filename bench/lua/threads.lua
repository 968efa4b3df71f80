-- Numbers wrk's threads (thread_no, from 0) so that each one sends different values.
local threads = 0

function setup(thread)
  thread:set("thread_no", threads)
  threads = threads + 1
end
