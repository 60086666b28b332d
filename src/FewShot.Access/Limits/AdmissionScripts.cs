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
    /// KEYS: key account, its leases, global account, its leases, the key's rpm and tpm windows ("-" where unused).
    /// ARGV: request id, tokens, micros, key budget, key money budget, global budget, global money budget, rpm, tpm
    /// (-1: none), lease ms, account lifetime ms. Returns {0} admitted; {-1, 1|2} the key's or the global account is not
    /// in Redis yet (the caller starts it from the ledger and asks again); {1, kind, limit, remaining, reset ms} refused.
    /// </summary>
    public const string Admit = """
        local t = redis.call('TIME')
        local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
        local rid, tokens, micros = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
        local kb, kbm, gb, gbm = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7])
        local rpm, tpm, lease, keep = tonumber(ARGV[8]), tonumber(ARGV[9]), tonumber(ARGV[10]), tonumber(ARGV[11])
        local useKey, useGlobal = kb >= 0 or kbm >= 0, gb >= 0 or gbm >= 0

        local function sweep(account, leases)
          for _, m in ipairs(redis.call('ZRANGEBYSCORE', leases, '-inf', now)) do
            local _, _, rt, rm = string.find(m, '|(%d+)|(%d+)$')
            redis.call('HINCRBY', account, 'reserved', 0 - tonumber(rt))
            redis.call('HINCRBY', account, 'reserved_m', 0 - tonumber(rm))
            redis.call('ZREM', leases, m)
          end
        end
        if useKey then
          if redis.call('EXISTS', KEYS[1]) == 0 then return {-1, 1} end
          sweep(KEYS[1], KEYS[2])
        end
        if useGlobal then
          if redis.call('EXISTS', KEYS[3]) == 0 then return {-1, 2} end
          sweep(KEYS[3], KEYS[4])
        end

        -- Fixed one-minute windows in Redis's clock, the same for every instance.
        local minute = math.floor(now / 60000)
        local reset = (minute + 1) * 60000 - now
        local function window(key)
          local w = redis.call('HMGET', key, 'w', 'c')
          if tonumber(w[1]) ~= minute then return 0 end
          return tonumber(w[2] or '0')
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

        -- Everything fits: reserve it all.
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

    /// <summary>KEYS: an account. ARGV: used tokens, used micros (from the ledger), lifetime ms. Starts the account unless it exists.</summary>
    public const string Open = """
        if redis.call('EXISTS', KEYS[1]) == 0 then
          redis.call('HSET', KEYS[1], 'used', ARGV[1], 'used_m', ARGV[2], 'reserved', 0, 'reserved_m', 0)
          redis.call('PEXPIRE', KEYS[1], ARGV[3])
        end
        return 1
        """;

    /// <summary>
    /// KEYS: key account, its leases, global account, its leases, the request's settled marker. ARGV: lease member,
    /// reserved tokens, reserved micros, charged tokens, charged micros, key account used (1/0), global used (1/0).
    /// Returns 1, or 0 when this request id was already settled (nothing changes). A lease that already expired was
    /// released by a sweep; the charge still counts.
    /// </summary>
    public const string Settle = """
        if not redis.call('SET', KEYS[5], '1', 'NX', 'PX', 172800000) then return 0 end
        for i = 0, 1 do
          if ARGV[6 + i] == '1' then
            local account, leases = KEYS[1 + 2 * i], KEYS[2 + 2 * i]
            if redis.call('ZREM', leases, ARGV[1]) == 1 then
              redis.call('HINCRBY', account, 'reserved', 0 - tonumber(ARGV[2]))
              redis.call('HINCRBY', account, 'reserved_m', 0 - tonumber(ARGV[3]))
            end
            if redis.call('EXISTS', account) == 1 then
              redis.call('HINCRBY', account, 'used', tonumber(ARGV[4]))
              redis.call('HINCRBY', account, 'used_m', tonumber(ARGV[5]))
            end
          end
        end
        return 1
        """;
}
