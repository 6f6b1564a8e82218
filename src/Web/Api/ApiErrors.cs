// One shape for every rejected request: HTTP 400 with the field and the reason.
using Microsoft.AspNetCore.Http;

namespace PacketScope.Web.Api;

public sealed record ApiError(string Error, string? Field = null, string? Reason = null);

public sealed class BadRequestException(string field, string reason) : Exception($"{field}: {reason}")
{
    public string Field { get; } = field;
    public string Reason { get; } = reason;

    public IResult ToResult() => Results.BadRequest(new ApiError($"invalid parameter '{Field}': {Reason}", Field, Reason));
}
