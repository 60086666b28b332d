namespace FewShot.Training.Scaling;

/// <summary>L(C) = A * C^(-B), fitted by least squares on log L against log C; R^2 is that of the log-log line.</summary>
public sealed record PowerLawFit(double A, double B, double RSquared, int Points)
{
    public double At(double compute) => A * Math.Pow(compute, -B);

    public static PowerLawFit Fit(IReadOnlyList<(double Compute, double Loss)> points)
    {
        if (points.Count < 2) throw new ArgumentException($"a power-law fit needs at least 2 points, got {points.Count}");
        if (points.Any(p => p.Compute <= 0 || p.Loss <= 0)) throw new ArgumentException("a power-law fit needs positive compute and loss");
        var xs = points.Select(p => Math.Log(p.Compute)).ToArray();
        var ys = points.Select(p => Math.Log(p.Loss)).ToArray();
        var (mx, my) = (xs.Average(), ys.Average());
        double sxy = 0, sxx = 0, syy = 0;
        for (var i = 0; i < xs.Length; i++)
        {
            sxy += (xs[i] - mx) * (ys[i] - my);
            sxx += (xs[i] - mx) * (xs[i] - mx);
            syy += (ys[i] - my) * (ys[i] - my);
        }
        if (sxx == 0) throw new ArgumentException("a power-law fit needs at least two different compute values");
        var slope = sxy / sxx;
        var intercept = my - slope * mx;
        var residual = 0.0;
        for (var i = 0; i < xs.Length; i++) residual += Math.Pow(ys[i] - (intercept + slope * xs[i]), 2);
        var r2 = syy == 0 ? 1 : 1 - residual / syy;
        return new PowerLawFit(Math.Exp(intercept), -slope, r2, points.Count);
    }

    public override string ToString() => $"L = {A:G4} * C^-{B:F4} (R^2 = {RSquared:F3}, {Points} points)";
}
