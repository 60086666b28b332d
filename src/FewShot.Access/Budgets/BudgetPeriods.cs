using FewShot.Access.Keys;

namespace FewShot.Access.Budgets;

/// <summary>Where budget periods start and end, in UTC: days at midnight, weeks on Monday, months on the 1st.</summary>
public static class BudgetPeriods
{
    public static DateTimeOffset Start(BudgetPeriod period, DateTimeOffset now)
    {
        var day = new DateTimeOffset(now.UtcDateTime.Date, TimeSpan.Zero);
        return period switch
        {
            BudgetPeriod.Day => day,
            BudgetPeriod.Week => day.AddDays(-(((int)day.DayOfWeek + 6) % 7)),
            BudgetPeriod.Month => new DateTimeOffset(day.Year, day.Month, 1, 0, 0, 0, TimeSpan.Zero),
            _ => DateTimeOffset.UnixEpoch,
        };
    }

    /// <summary>When the period that contains <paramref name="now"/> ends; null for budgets that never reset.</summary>
    public static DateTimeOffset? End(BudgetPeriod period, DateTimeOffset now)
    {
        var start = Start(period, now);
        return period switch
        {
            BudgetPeriod.Day => start.AddDays(1),
            BudgetPeriod.Week => start.AddDays(7),
            BudgetPeriod.Month => start.AddMonths(1),
            _ => null,
        };
    }
}
