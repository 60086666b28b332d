using System.Collections.Concurrent;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using FewShot.Access.Storage;

namespace FewShot.Access.Keys;

/// <summary>
/// Issues, rotates, revokes and checks keys. Shared by the CLI (which opens the store directly) and the server (admin API
/// and the request path). The public rotating key is never stored: it is HMAC-SHA256(server secret, period index), so the
/// database holds no key in plaintext and every instance with the secret agrees on the key of each period.
/// </summary>
/// <param name="keyCacheTime">How long a key read from the store is used without reading it again (<see cref="KeyCache"/>);
/// zero: every check reads the store.</param>
public sealed class KeyService(IAccessStore store, TimeProvider time, TimeSpan keyCacheTime = default)
{
    /// <summary>What a server on a shared store keeps keys for: a change on another instance counts here within it.</summary>
    public static readonly TimeSpan SharedStoreKeyCacheTime = TimeSpan.FromMilliseconds(250);

    const string SecretSetting = "server_secret";
    const string RotationSetting = "public_rotation";
    const string GraceSetting = "public_grace_seconds";
    const string AdminHashSetting = "admin_key_hash";

    byte[]? secret;
    byte[]? adminHash;
    PublicKeySchedule? schedule;
    bool scheduleLoaded;
    readonly ConcurrentDictionary<long, byte[]> publicHashes = new();
    readonly KeyCache cache = new(keyCacheTime);

    public IAccessStore Store => store;
    public TimeProvider Time => time;

    /// <summary>Told to someone who presents a rotated key (e.g. "Get the current key from @fewshot").</summary>
    public string RotatedKeyHint { get; set; } = "Get the current key where it is published.";

    public async Task<IssuedKey> IssueAsync(KeySpec spec, string actor, CancellationToken cancel = default)
    {
        var now = time.GetUtcNow();
        spec.Validated(now);
        var key = KeyFormat.Generate(KeyKind.Personal);
        var record = new KeyRecord("key_" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(6)), KeyKind.Personal, spec.Label,
            KeyFormat.Hash(key), KeyFormat.Hint(key), now, spec.ExpiresAt, null, spec.Models, spec.Modes, spec.Limits);
        await store.InsertKeyAsync(record, cancel);
        await AuditAsync("key_issued", record.Id, actor, $"label={spec.Label}", cancel);
        return new IssuedKey(record, key);
    }

    public async Task<KeyRecord> GetAsync(string id, CancellationToken cancel = default) =>
        await store.GetKeyAsync(id, cancel) ?? throw new UnknownKeyException(id);

    public Task<IReadOnlyList<KeyRecord>> ListAsync(CancellationToken cancel = default) => store.ListKeysAsync(cancel);

    /// <summary>Gives a personal key a new secret; the old one keeps working for <paramref name="grace"/>, then fails as rotated.</summary>
    public async Task<IssuedKey> RotateAsync(string id, TimeSpan grace, string actor, CancellationToken cancel = default)
    {
        if (grace < TimeSpan.Zero || grace > TimeSpan.FromDays(30)) throw new LimitException("grace", $"grace {grace} is outside 0 .. 30 days");
        var record = await GetAsync(id, cancel);
        if (record.Kind == KeyKind.Public) throw new ArgumentException("the public key rotates on its schedule; it cannot be rotated by hand");
        if (record.RevokedAt is not null) throw new ArgumentException($"key {id} is revoked; issue a new one");
        var now = time.GetUtcNow();
        var key = KeyFormat.Generate(KeyKind.Personal);
        var rotated = record with
        {
            Hash = KeyFormat.Hash(key), Hint = KeyFormat.Hint(key), PreviousHash = record.Hash, PreviousValidUntil = now + grace, RotatedAt = now,
        };
        await store.UpdateKeyAsync(rotated, cancel);
        cache.Clear();
        await AuditAsync("key_rotated", id, actor, $"grace={grace}", cancel);
        return new IssuedKey(rotated, key);
    }

    public async Task<KeyRecord> RevokeAsync(string id, string actor, CancellationToken cancel = default)
    {
        var record = await GetAsync(id, cancel);
        if (record.RevokedAt is not null) return record;
        var revoked = record with { RevokedAt = time.GetUtcNow() };
        await store.UpdateKeyAsync(revoked, cancel);
        cache.Clear();
        await AuditAsync("key_revoked", id, actor, $"label={record.Label}", cancel);
        return revoked;
    }

    public Task AuditAsync(string what, string? keyId, string? actorOrIp, string detail, CancellationToken cancel = default) =>
        store.AuditAsync(new AuditEntry(time.GetUtcNow(), what, keyId, actorOrIp, detail), cancel);

    // ---- the public rotating key ----

    /// <summary>Stores the schedule (so `fewshot keys current` can read it) and creates or updates the public key's record.</summary>
    public async Task ConfigurePublicKeyAsync(PublicKeyOptions? options, CancellationToken cancel = default)
    {
        if (options is null)
        {
            await store.SetSettingAsync(RotationSetting, null, cancel);
            schedule = null;
            scheduleLoaded = true;
            return;
        }
        var parsed = PublicKeySchedule.Parse(options.Rotation, options.GraceOrDefault);
        var limits = (options.Limits ?? KeyLimits.None).Validated();
        await EnsureSecretAsync(cancel);
        await store.SetSettingAsync(RotationSetting, options.Rotation, cancel);
        await store.SetSettingAsync(GraceSetting, options.GraceOrDefault.TotalSeconds.ToString(CultureInfo.InvariantCulture), cancel);
        var existing = await store.GetKeyAsync(KeyRecord.PublicKeyId, cancel);
        var record = new KeyRecord(KeyRecord.PublicKeyId, KeyKind.Public, "public rotating key", null, KeyFormat.PublicPrefix + "…",
            existing?.CreatedAt ?? time.GetUtcNow(), null, existing?.RevokedAt, options.Models ?? [], [], limits);
        if (existing is null) await store.InsertKeyAsync(record, cancel);
        else await store.UpdateKeyAsync(record, cancel);
        cache.Clear();
        schedule = parsed;
        scheduleLoaded = true;
        publicHashes.Clear();
    }

    public async Task<PublicKeySchedule?> GetScheduleAsync(CancellationToken cancel = default)
    {
        if (scheduleLoaded) return schedule;
        var rotation = await store.GetSettingAsync(RotationSetting, cancel);
        var grace = await store.GetSettingAsync(GraceSetting, cancel);
        schedule = rotation is null ? null : PublicKeySchedule.Parse(rotation, TimeSpan.FromSeconds(double.Parse(grace ?? "0", CultureInfo.InvariantCulture)));
        scheduleLoaded = true;
        return schedule;
    }

    public async Task<PublicKeyInfo?> CurrentPublicKeyAsync(CancellationToken cancel = default)
    {
        if (await GetScheduleAsync(cancel) is not { } s) return null;
        var now = time.GetUtcNow();
        var index = s.Index(now);
        return new PublicKeyInfo(await PublicKeyAsync(index, cancel), s.Start(index), s.Start(index + 1), s.Start(index + 1) + s.Grace, s);
    }

    async Task<string> PublicKeyAsync(long index, CancellationToken cancel)
    {
        var hmac = HMACSHA256.HashData(await EnsureSecretAsync(cancel), Encoding.ASCII.GetBytes($"fewshot public key {index}"));
        return KeyFormat.FromBytes(KeyKind.Public, hmac);
    }

    async Task<byte[]> PublicHashAsync(long index, CancellationToken cancel)
    {
        if (publicHashes.TryGetValue(index, out var hash)) return hash;
        hash = KeyFormat.Hash(await PublicKeyAsync(index, cancel));
        if (publicHashes.Count > 64) publicHashes.Clear();
        return publicHashes[index] = hash;
    }

    async Task<byte[]> EnsureSecretAsync(CancellationToken cancel)
    {
        if (secret is not null) return secret;
        var stored = await store.GetSettingAsync(SecretSetting, cancel)
            ?? await store.GetOrAddSettingAsync(SecretSetting, Convert.ToBase64String(RandomNumberGenerator.GetBytes(32)), cancel);
        return secret = Convert.FromBase64String(stored);
    }

    // ---- the admin key ----

    /// <summary>
    /// Sets the admin key: the operator's (when given), else the stored one, else a new one which is returned so the caller
    /// can print it once. Only its hash is stored.
    /// </summary>
    public async Task<string?> EnsureAdminKeyAsync(string? configured, CancellationToken cancel = default)
    {
        if (configured is not null)
        {
            if (KeyFormat.Check(configured, out var kind) != KeyShape.Ok || kind != KeyKind.Admin)
                throw new ArgumentException("the configured admin key is not a valid fsa-… key (leave it unset and one is created and printed once)");
            adminHash = KeyFormat.Hash(configured);
            await store.SetSettingAsync(AdminHashSetting, Convert.ToBase64String(adminHash), cancel);
            return null;
        }
        if (await store.GetSettingAsync(AdminHashSetting, cancel) is { } stored)
        {
            adminHash = Convert.FromBase64String(stored);
            return null;
        }
        var key = KeyFormat.Generate(KeyKind.Admin);
        adminHash = KeyFormat.Hash(key);
        await store.SetSettingAsync(AdminHashSetting, Convert.ToBase64String(adminHash), cancel);
        await AuditAsync("admin_key_created", null, "server", "printed once at start", cancel);
        return key;
    }

    public bool IsAdminKey(string? presented) =>
        presented is not null && adminHash is not null && KeyFormat.Check(presented, out var kind) == KeyShape.Ok && kind == KeyKind.Admin
        && CryptographicOperations.FixedTimeEquals(KeyFormat.Hash(presented), adminHash);

    // ---- checking a presented key ----

    public async Task<AuthOutcome> AuthenticateAsync(string? presented, CancellationToken cancel = default)
    {
        if (string.IsNullOrEmpty(presented)) return AuthOutcome.Missing;
        switch (KeyFormat.Check(presented, out var kind))
        {
            case KeyShape.Malformed: return AuthOutcome.Malformed;
            case KeyShape.BadChecksum: return AuthOutcome.BadChecksum;
        }
        var hash = KeyFormat.Hash(presented);
        var now = time.GetUtcNow();
        if (kind == KeyKind.Admin) return AuthOutcome.Unknown;
        if (kind == KeyKind.Public) return await AuthenticatePublicAsync(hash, now, cancel);

        if (await cache.GetAsync(Convert.ToHexString(hash), c => store.FindKeyByHashAsync(hash, c), cancel) is not { } match) return AuthOutcome.Unknown;
        var key = match.Key;
        var stored = match.IsPrevious ? key.PreviousHash : key.Hash;
        if (stored is null || !CryptographicOperations.FixedTimeEquals(stored, hash)) return AuthOutcome.Unknown;
        if (key.RevokedAt is not null) return AuthOutcome.Revoked with { KeyId = key.Id };
        if (key.ExpiresAt is { } expiry && expiry <= now) return AuthOutcome.Expired(expiry) with { KeyId = key.Id };
        if (match.IsPrevious && !(key.PreviousValidUntil > now))
            return AuthOutcome.Rotated(key.PreviousValidUntil ?? now, RotatedKeyHint) with { KeyId = key.Id };
        return AuthOutcome.Ok(key);
    }

    async Task<AuthOutcome> AuthenticatePublicAsync(byte[] hash, DateTimeOffset now, CancellationToken cancel)
    {
        if (await GetScheduleAsync(cancel) is not { } s) return AuthOutcome.Unknown;
        var index = s.Index(now);
        // The current key, the previous one (valid during the grace), and a week's worth of older ones (told "rotated").
        for (var back = 0; back <= 7; back++)
        {
            if (!CryptographicOperations.FixedTimeEquals(await PublicHashAsync(index - back, cancel), hash)) continue;
            var validUntil = s.Start(index - back + 1) + s.Grace;
            if (back > 0 && now >= validUntil) return AuthOutcome.Rotated(validUntil, RotatedKeyHint) with { KeyId = KeyRecord.PublicKeyId };
            var record = (await cache.GetAsync(KeyRecord.PublicKeyId, async c =>
                await store.GetKeyAsync(KeyRecord.PublicKeyId, c) is { } found ? new KeyMatch(found, IsPrevious: false) : null, cancel))?.Key;
            if (record is null) return AuthOutcome.Unknown;
            return record.RevokedAt is not null ? AuthOutcome.Revoked with { KeyId = record.Id } : AuthOutcome.Ok(record);
        }
        return AuthOutcome.Unknown;
    }
}
