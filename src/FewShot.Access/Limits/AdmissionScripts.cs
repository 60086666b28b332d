namespace FewShot.Access.Limits;

/// <summary>
/// The Lua scripts of <see cref="RedisAdmission"/>; Redis runs each atomically, so no interleaving of instances can
/// overspend. Accounts are hashes (used, used_m, reserved, reserved_m: tokens and micro-dollars); their leases a sorted set
/// beside them whose members are "requestid|tokens|micros", scored by expiry in Redis's own clock (milliseconds).
/// Negative amounts are written "0 - x", never "-x": Lua prints -0 as "-0", which HINCRBY refuses mid-script (and a
/// script's earlier writes stay).
/// </summary>
static class AdmissionScripts
{
    /// <summary>
    /// KEYS: key account, its leases, global account, its leases, the key's rpm and tpm windows, the service's requests in
    /// flight ("-" where unused), the epoch (when this Redis's data began), the caller's address lockout and its rpm window
    /// ("-": the address was checked before). ARGV: request id, tokens, micros, key budget, key money budget, global budget,
    /// global money budget, rpm, tpm (-1: none), lease ms, account lifetime ms, concurrency cap (-1: none), warm-up ms, the
    /// address's rpm. Returns {0} admitted; {-1, 1|2} the key's or the global account is not in Redis yet (the caller
    /// starts it from the ledger and asks again; nothing was counted); {1, kind, limit, remaining, reset ms} refused
    /// (address_locked: reset is the time left of the lockout). The address's request counts once it gets past its
    /// lockout and its own rate, whatever the key's limits then decide (as when it was checked before the key).
    /// </summary>
    public const string Admit = Clock + Window + Sweep + """
        local rid, tokens, micros = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
        local kb, kbm, gb, gbm = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7])
        local rpm, tpm, lease, keep = tonumber(ARGV[8]), tonumber(ARGV[9]), tonumber(ARGV[10]), tonumber(ARGV[11])
        local useKey, useGlobal = kb >= 0 or kbm >= 0, gb >= 0 or gbm >= 0
        local checkAddress = KEYS[9] ~= '-'

        if checkAddress then
          local locked = tonumber(redis.call('GET', KEYS[9]) or '0')
          if locked > now then return {1, 'address_locked', 0, 0, locked - now} end
        end

        -- A Redis that lost its data (restarted without persistence) forgot the reservations of requests still running:
        -- admit nothing for a warm-up while their renewals put them back (and outboxes bring the ledger up to date).
        local epoch = tonumber(redis.call('GET', KEYS[8]) or '-1')
        if epoch < 0 then
          redis.call('SET', KEYS[8], now)
          epoch = now
        end
        local warm = tonumber(ARGV[13])
        if now - epoch < warm then return {1, 'warming', 0, 0, warm - (now - epoch)} end

        if useKey then
          if redis.call('EXISTS', KEYS[1]) == 0 then return {-1, 1} end
          sweep(KEYS[1], KEYS[2])
        end
        if useGlobal then
          if redis.call('EXISTS', KEYS[3]) == 0 then return {-1, 2} end
          sweep(KEYS[3], KEYS[4])
        end

        if checkAddress then
          local addressRpm, addressRequests = tonumber(ARGV[14]), window(KEYS[10])
          if addressRequests + 1 > addressRpm then return {1, 'address_requests', addressRpm, 0, reset} end
          redis.call('HSET', KEYS[10], 'w', minute, 'c', addressRequests + 1)
          redis.call('PEXPIRE', KEYS[10], 120000)
        end

        local requests, used = 0, 0
        if rpm >= 0 then
          requests = window(KEYS[5])
          if requests + 1 > rpm then return {1, 'requests', rpm, math.max(0, rpm - requests), reset} end
        end
        if tpm >= 0 then
          used = window(KEYS[6])
          if used + tokens > tpm then return {1, 'tokens', tpm, math.max(0, tpm - used), reset} end
        end

        local function short(account, budget, usedField, reservedField, amount)
          if budget < 0 then return nil end
          local v = redis.call('HMGET', account, usedField, reservedField)
          local committed = tonumber(v[1] or '0') + tonumber(v[2] or '0')
          if committed + amount > budget then return math.max(0, budget - committed) end
          return nil
        end
        if useKey then
          local s = short(KEYS[1], kb, 'used', 'reserved', tokens)
          if s then return {1, 'key_tokens', kb, s, 0} end
          s = short(KEYS[1], kbm, 'used_m', 'reserved_m', micros)
          if s then return {1, 'key_money', kbm, s, 0} end
        end
        if useGlobal then
          local s = short(KEYS[3], gb, 'used', 'reserved', tokens)
          if s then return {1, 'global_tokens', gb, s, 0} end
          s = short(KEYS[3], gbm, 'used_m', 'reserved_m', micros)
          if s then return {1, 'global_money', gbm, s, 0} end
        end

        -- The service's concurrency cap: requests in flight on every instance, each a lease like a reservation.
        local cap = tonumber(ARGV[12])
        if cap >= 0 then
          redis.call('ZREMRANGEBYSCORE', KEYS[7], '-inf', now)
          if redis.call('ZCARD', KEYS[7]) >= cap then return {1, 'busy', cap, 0, 1000} end
        end

        -- Everything fits: reserve it all.
        if cap >= 0 then
          redis.call('ZADD', KEYS[7], now + lease, rid)
          redis.call('PEXPIRE', KEYS[7], keep)
        end
        if rpm >= 0 then
          redis.call('HSET', KEYS[5], 'w', minute, 'c', requests + 1)
          redis.call('PEXPIRE', KEYS[5], 120000)
        end
        if tpm >= 0 then
          redis.call('HSET', KEYS[6], 'w', minute, 'c', used + tokens)
          redis.call('PEXPIRE', KEYS[6], 120000)
        end
        local member = rid .. '|' .. tokens .. '|' .. micros
        for i = 0, 1 do
          if (i == 0 and useKey) or (i == 1 and useGlobal) then
            local account, leases = KEYS[1 + 2 * i], KEYS[2 + 2 * i]
            redis.call('HINCRBY', account, 'reserved', tokens)
            redis.call('HINCRBY', account, 'reserved_m', micros)
            redis.call('ZADD', leases, now + lease, member)
            redis.call('PEXPIRE', account, keep)
            redis.call('PEXPIRE', leases, keep)
          end
        end
        return {0}
        """;

    /// <summary>Now in Redis's clock (milliseconds), the same for every instance.</summary>
    const string Clock = """
        local t = redis.call('TIME')
        local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)

        """;

    /// <summary>Fixed one-minute windows in Redis's clock: a hash (w: the minute, c: the count) that counts only in its minute.</summary>
    const string Window = """
        local minute = math.floor(now / 60000)
        local reset = (minute + 1) * 60000 - now
        local function window(key)
          local w = redis.call('HMGET', key, 'w', 'c')
          if tonumber(w[1]) ~= minute then return 0 end
          return tonumber(w[2] or '0')
        end

        """;

    /// <summary>Releases the expired leases of an account (an instance that died, or a request that stopped renewing).</summary>
    const string Sweep = """
        local function amounts(m)
          local _, _, rt, rm = string.find(m, '|(%d+)|(%d+)$')
          return tonumber(rt), tonumber(rm)
        end
        local function sweep(account, leases)
          for _, m in ipairs(redis.call('ZRANGEBYSCORE', leases, '-inf', now)) do
            local rt, rm = amounts(m)
            redis.call('HINCRBY', account, 'reserved', 0 - rt)
            redis.call('HINCRBY', account, 'reserved_m', 0 - rm)
            redis.call('ZREM', leases, m)
          end
        end

        """;

    /// <summary>
    /// `fewshot usage --reconcile`: KEYS: an account, its leases. ARGV: used tokens, used micros (the ledger's sums for its
    /// period). Drops expired leases, sets reserved to what the live leases hold and used to the ledger's sums. Returns
    /// {used, used_m, reserved, reserved_m} as they were, then as they are.
    /// </summary>
    public const string Reconcile = Clock + Sweep + """
        local before = redis.call('HMGET', KEYS[1], 'used', 'used_m', 'reserved', 'reserved_m')
        redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
        local reserved, reservedM = 0, 0
        for _, m in ipairs(redis.call('ZRANGE', KEYS[2], 0, -1)) do
          local rt, rm = amounts(m)
          reserved, reservedM = reserved + rt, reservedM + rm
        end
        redis.call('HSET', KEYS[1], 'used', ARGV[1], 'used_m', ARGV[2], 'reserved', reserved, 'reserved_m', reservedM)
        return {tonumber(before[1] or '0'), tonumber(before[2] or '0'), tonumber(before[3] or '0'), tonumber(before[4] or '0'),
          tonumber(ARGV[1]), tonumber(ARGV[2]), reserved, reservedM}
        """;

    /// <summary>
    /// The firewall's shared state for one address, where the admission does not check it: a request to a keyed path
    /// that is not a generation, or one whose key failed. KEYS: the address's lockout, its requests-per-minute window, its
    /// failed authentications in the current window, its strikes. ARGV: the per-address rpm, count the request (1/0),
    /// count a failed authentication (1/0), then the lockout's threshold, window ms, first lockout ms, factor and longest
    /// lockout ms. A failure counts towards a lockout as <see cref="FewShot.Access.Firewall.Lockouts"/> counts it in
    /// memory. Returns {1, until ms} locked out (nothing counted), {2, rpm, reset ms} over its rate (nothing counted),
    /// else {0, remaining, reset ms, the end of the lockout this failure started or 0}.
    /// </summary>
    public const string Address = Clock + Window + """
        local locked = tonumber(redis.call('GET', KEYS[1]) or '0')
        if locked > now then return {1, locked} end
        local rpm = tonumber(ARGV[1])
        local requests = window(KEYS[2])
        if ARGV[2] == '1' then
          if requests + 1 > rpm then return {2, rpm, reset} end
          requests = requests + 1
          redis.call('HSET', KEYS[2], 'w', minute, 'c', requests)
          redis.call('PEXPIRE', KEYS[2], 120000)
        end
        local started = 0
        if ARGV[3] == '1' then
          local failures = redis.call('INCR', KEYS[3])
          if failures == 1 then redis.call('PEXPIRE', KEYS[3], ARGV[5]) end
          if failures >= tonumber(ARGV[4]) then
            redis.call('DEL', KEYS[3])
            local strikes = tonumber(redis.call('GET', KEYS[4]) or '0')
            local length = math.floor(math.min(tonumber(ARGV[8]), tonumber(ARGV[6]) * tonumber(ARGV[7]) ^ strikes))
            redis.call('SET', KEYS[4], strikes + 1, 'PX', 86400000)
            redis.call('SET', KEYS[1], now + length, 'PX', length)
            started = now + length
          end
        end
        return {0, rpm - requests, reset, started}
        """;

    /// <summary>
    /// A running request's renewal. KEYS: key account, its leases, global account, its leases, requests in flight, the
    /// request's settled marker. ARGV: lease member, tokens, micros, lease ms, request id, key account used (1/0), global
    /// used (1/0), account lifetime ms. Moves the leases' expiry on; a lease that is gone (Redis restarted, or the lease
    /// lapsed) is reserved again, since the request still runs. Returns {0} renewed, {1} reserved again, {2} already
    /// settled, {-1, 1|2} the key's or the global account is not in Redis (the caller starts it from the ledger and asks again).
    /// </summary>
    public const string Renew = Clock + """
        if redis.call('EXISTS', KEYS[6]) == 1 then return {2} end
        for i = 0, 1 do
          if ARGV[6 + i] == '1' and redis.call('EXISTS', KEYS[1 + 2 * i]) == 0 then return {-1, i + 1} end
        end
        local again = 0
        for i = 0, 1 do
          if ARGV[6 + i] == '1' then
            local account, leases = KEYS[1 + 2 * i], KEYS[2 + 2 * i]
            if not redis.call('ZSCORE', leases, ARGV[1]) then
              redis.call('HINCRBY', account, 'reserved', ARGV[2])
              redis.call('HINCRBY', account, 'reserved_m', ARGV[3])
              again = 1
            end
            redis.call('ZADD', leases, now + tonumber(ARGV[4]), ARGV[1])
            redis.call('PEXPIRE', leases, ARGV[8])
          end
        end
        redis.call('ZADD', KEYS[5], now + tonumber(ARGV[4]), ARGV[5])
        return {again}
        """;

    /// <summary>KEYS: an account. ARGV: used tokens, used micros (from the ledger), lifetime ms. Starts the account unless it exists.</summary>
    public const string Open = """
        if redis.call('EXISTS', KEYS[1]) == 0 then
          redis.call('HSET', KEYS[1], 'used', ARGV[1], 'used_m', ARGV[2], 'reserved', 0, 'reserved_m', 0)
          redis.call('PEXPIRE', KEYS[1], ARGV[3])
        end
        return 1
        """;

    /// <summary>
    /// KEYS: key account, its leases, global account, its leases, the request's settled marker, the requests in flight.
    /// ARGV: lease member, reserved tokens, reserved micros, charged tokens, charged micros, key account used (1/0),
    /// global used (1/0), request id. Returns 1, 0 when this request id was already settled (nothing changes), or
    /// {-1, 1|2} when the key's or the global account is not in Redis (it restarted): the caller starts it from the
    /// ledger, which cannot hold this request's row yet (the row waits for this settlement), and asks again. A lease that
    /// already expired was released by a sweep; the charge still counts.
    /// </summary>
    public const string Settle = """
        redis.call('ZREM', KEYS[6], ARGV[8])
        if redis.call('EXISTS', KEYS[5]) == 1 then return 0 end
        for i = 0, 1 do
          if ARGV[6 + i] == '1' and redis.call('EXISTS', KEYS[1 + 2 * i]) == 0 then return {-1, i + 1} end
        end
        redis.call('SET', KEYS[5], '1', 'PX', 172800000)
        for i = 0, 1 do
          if ARGV[6 + i] == '1' then
            local account, leases = KEYS[1 + 2 * i], KEYS[2 + 2 * i]
            if redis.call('ZREM', leases, ARGV[1]) == 1 then
              redis.call('HINCRBY', account, 'reserved', 0 - tonumber(ARGV[2]))
              redis.call('HINCRBY', account, 'reserved_m', 0 - tonumber(ARGV[3]))
            end
            redis.call('HINCRBY', account, 'used', tonumber(ARGV[4]))
            redis.call('HINCRBY', account, 'used_m', tonumber(ARGV[5]))
          end
        end
        return 1
        """;
}
