"""The offline extractor's configuration and lexicons (precompiled once at import).

Competitors and products are per tenant (``ExtractorConfig``); the phrase lexicons are general
English sales language. Every pattern is a cue, not a verdict: ``offline.py`` still checks who
said it (buyer or seller), negation, hypotheticals and questions.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property

from rapidfuzz import fuzz, process

from pie.domain.model import StakeholderRole

#: Used when a tenant configures none: vendors a revenue tool is commonly compared with.
DEFAULT_COMPETITORS = (
    "Gong",
    "Clari",
    "Chorus",
    "Outreach",
    "Salesloft",
    "People.ai",
    "InsightSquared",
    "Aviso",
    "BoostUp",
    "Xactly",
    "Anaplan",
)


def _alternation(names: list[str]) -> re.Pattern[str] | None:
    if not names:
        return None
    ordered = sorted({n for n in names if n.strip()}, key=len, reverse=True)
    body = "|".join(re.escape(n).replace(r"\ ", r"[\s-]?") for n in ordered)
    return re.compile(rf"(?<![\w@.])(?:{body})(?![\w])", re.I)


@dataclass(frozen=True)
class ExtractorConfig:
    """What the offline extractor needs to know about a tenant.

    ``products`` maps a product line to the names buyers use for it (the line's own name is
    always one). ``seller_domains`` are the email domains of the tenant's own people (their
    words are the seller side). ``fuzzy_cutoff`` is the rapidfuzz ratio (0-100) a capitalised
    word needs to count as a misspelt competitor or product name.
    """

    competitors: tuple[str, ...] = DEFAULT_COMPETITORS
    products: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    seller_domains: tuple[str, ...] = ()
    fiscal_year_start_month: int = 1
    fuzzy_cutoff: int = 88

    @cached_property
    def competitor_pattern(self) -> re.Pattern[str] | None:
        return _alternation(list(self.competitors))

    @cached_property
    def product_names(self) -> dict[str, str]:
        """alias (casefolded) -> product line"""
        out: dict[str, str] = {}
        for line, aliases in self.products.items():
            for a in (line, *aliases):
                out[a.casefold()] = line
        return out

    @cached_property
    def product_pattern(self) -> re.Pattern[str] | None:
        return _alternation(list(self.product_names))

    @cached_property
    def _fuzzy_competitors(self) -> list[str]:
        return [c.casefold() for c in self.competitors if len(c) >= 5]

    def fuzzy_competitor(self, word: str) -> str | None:
        """The configured competitor ``word`` misspells, if any (rapidfuzz ratio)."""
        if len(word) < 5 or not self._fuzzy_competitors:
            return None
        got = process.extractOne(
            word.casefold(),
            self._fuzzy_competitors,
            scorer=fuzz.ratio,
            score_cutoff=self.fuzzy_cutoff,
        )
        if got is None:
            return None
        return self.competitors[[c.casefold() for c in self.competitors].index(got[0])]

    def fuzzy_product(self, word: str) -> str | None:
        names = [n for n in self.product_names if len(n) >= 5]
        if len(word) < 5 or not names:
            return None
        got = process.extractOne(
            word.casefold(), names, scorer=fuzz.ratio, score_cutoff=self.fuzzy_cutoff
        )
        return self.product_names[got[0]] if got is not None else None


#: Patterns compiled by ``rx``: they match lower-cased text (see ``lower``).
LOWERED: set[re.Pattern[str]] = set()
_WORD_START = "(?<![a-z0-9_])"


def _lower_source(pattern: str) -> str:
    """``pattern`` with its literals lower-cased (escapes such as ``\\S`` kept) and every
    word-start ``\\b`` (at the start of an alternative) written as a look-behind, which
    Python's regex engine scans several times faster than ``\\b`` with ``re.I``."""
    out: list[str] = []
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if c == "\\" and i + 1 < len(pattern):
            out.append(pattern[i : i + 2])
            i += 2
            continue
        out.append(c.lower())
        i += 1
    src = "".join(out).replace("(?p<", "(?P<").replace("(?p=", "(?P=")
    branches = _top_level_branches(src)
    if len(branches) > 1 and all(b.startswith("\\b") for b in branches):
        src = _WORD_START + "(?:" + "|".join(b[2:] for b in branches) + ")"
    return re.sub(r"(^|\||\(\?:|\()\\b", lambda m: m.group(1) + _WORD_START, src)


def _top_level_branches(src: str) -> list[str]:
    out, depth, klass, start, i = [], 0, False, 0, 0
    while i < len(src):
        c = src[i]
        if c == "\\":
            i += 2
            continue
        if klass:
            klass = c != "]"
        elif c == "[":
            klass = True
        elif c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
        elif c == "|" and depth == 0:
            out.append(src[start:i])
            start = i + 1
        i += 1
    out.append(src[start:])
    return out


def rx(pattern: str) -> re.Pattern[str]:
    """A case-insensitive cue pattern, compiled to run on ``lower(text)``: lower-casing the
    text once and matching case-sensitively is several times faster than ``re.I``."""
    compiled = re.compile(_lower_source(pattern))
    LOWERED.add(compiled)
    return compiled


def lower(text: str) -> str:
    """``text`` lower-cased with every character's position kept (a few Unicode letters grow
    when lower-cased; those stay as they are)."""
    low = text.lower()
    if len(low) == len(text):
        return low
    return "".join(c.lower() if len(c.lower()) == 1 else c for c in text)


NEGATION = rx(
    r"\b(?:not|no|never|don't|do not|doesn't|does not|didn't|did not|isn't|is not|aren't|"
    r"are not|won't|will not|wouldn't|haven't|have not|hasn't|has not|hadn't|can't|cannot|"
    r"couldn't|without|nor|neither|none|nothing|zero|nobody|no one|unlikely|far from)\b"
)
NOT_NEGATION = rx(r"\b(?:not only|no doubt|no later than|not later than|nothing but|no matter)\b")
CLAUSE_BREAK = re.compile(
    r"[,;:()]|\s(?:but|although|though|however|whereas|and|until|unless|before|once|after|"
    r"so|because|then|which|who|while)\s|\s[-–—]\s",
    re.I,
)
COUNTERFACTUAL = rx(
    r"\bif (?:we|i|they|you|the company|our team) (?:had|were|did|could|ever|got)\b|"
    r"\bif there (?:were|was)\b|\bhypothetical(?:ly)?\b|\bin theory\b|\bin a perfect world\b|"
    r"\bsomeday\b|\bsome day\b|\bone day\b|\bdown the road\b|\bwere we to\b|"
    r"\bwould(?:'ve| have)\b|\bwish we (?:had|could)\b|\bif only\b|\bimagine\b|\bsuppose\b|"
    r"\bsupposing\b|\bwhat if\b|\bif (?:we|i) (?:ever|decide)\b|\bjust (?:curious|wondering)\b|"
    r"\bfor (?:a )?future reference\b|\bno plans?\b|\bnot (?:this|next) year\b|\bmaybe next year\b"
)
CONDITIONAL = rx(r"\b(?:if|unless|assuming|provided that|as long as|depending on)\b")
SMALL_TALK = rx(
    r"\b(?:vacation|holiday|weekend|trip|kids?|wedding|birthday|weather|flight|hotel|game|"
    r"match|concert|dinner|lunch|coffee|parking|marathon|movie|gym|tickets?|rent|mortgage|"
    r"personal|my (?:wife|husband|son|daughter|family)|apartment|car)\b"
)

#: Budget exists, with or without an amount.
BUDGET_AVAILABLE = rx(
    r"\b(?:have|has|got|secured|with|approved|confirmed)\s+(?:a\s+|the\s+|some\s+)?(?:\w+\s+)?"
    r"budget\b|\bbudget(?:ed)?\s+(?:is\s+|has been\s+|was\s+)?(?:approved|allocated|"
    r"earmarked|set aside|in place|confirmed|signed off|secured|available)\b|"
    r"\bset aside\b|\bearmarked\b|\ballocated\b|\bapproved (?:the )?(?:spend|funding|budget)\b|"
    r"\bbudget (?:is )?approved\b|\bfunding (?:is )?(?:approved|secured|in place)\b|"
    r"\bthe money is (?:approved|there|in\b)|"
    r"\bapproval (?:for|of) the (?:amount|spend|budget|investment|purchase)\b"
)
#: Budget words that need an amount beside them.
BUDGET_AMOUNT = rx(
    r"\bbudget(?:ed)?\s+(?:of|is|for|set|was|around|roughly|about|tops|covers|sits|at|this|"
    r"next|range|between)\b|\bbudget\b|\bfunding (?:is|for|of)\b|\bcan (?:spend|invest|afford)\b|"
    r"\bwilling to (?:spend|invest|pay)\b|\bprice range\b|\bballpark\b|"
    r"\b(?:spend|invest|pay) (?:up to|around|about|roughly|at most)\b|\bsign(?:ed)? off on\b|"
    r"\bcapex\b|\bopex\b|\b(?:approved|allocated|budgeted|earmarked|funded|set aside|"
    r"capped at|cap(?:ped)? at|tops out)\b|\bspend is\b|\bwithin the\b|"
    r"\b(?:to|can|could) (?:spend|invest)\b|\b(?:gave|given|granted|handed) (?:us|me|the team)\b|"
    r"\b(?:cut|reduced|lowered|trimmed|increased|raised) to\b"
)
BUDGET_NEGATIVE = rx(
    r"\bbudget (?:is |was |has been )?(?:tight|frozen|cut|gone|spent|exhausted|limited|zero|"
    r"unchanged)\b(?! to)|\bno (?:budget|money|funding)\b|\bbudget freeze\b|"
    r"\bspending freeze\b|\b(?:out of|over|beyond|exceeds?) (?:our |the )?budget\b|"
    r"\bbudget\b.{0,40}\b(?:is gone|was cut|got cut|was pulled|frozen|cancell?ed|slashed|"
    r"no longer)\b(?! to)|\bfind (?:the )?budget\b|"
    r"\bhaven't (?:discussed|talked about) (?:budget|money)\b"
)
PRICE_TALK = rx(
    r"\b(?:our|the) (?:list |standard )?(?:price|pricing|cost|rate|fee)s?\b|"
    r"\bstarts? at\b|\bper (?:seat|user|license)\b|\bdiscount\b|\bquote\b"
)

TIMELINE_CUE = rx(
    r"\b(?:live|go-?live|launch|roll(?:ing)?[\s-]?out|deadline|deploy|implement(?:ed|ation)?|"
    r"in place|up and running|sign(?:ed)?|decision|decide|start|kick[\s-]?off|onboard(?:ed|ing)?|"
    r"migrat(?:e|ed|ion)|switch|cut[\s-]?over|renewal|expires?|contract ends|ready|"
    r"deliver(?:ed)?|purchase|buy|finali[sz]e|wrap up|move forward|rolled out|hard date|"
    r"have (?:it|this|something) (?:done|ready|working|live)|need (?:it|this|something)|"
    r"target|replace|budget cycle|by then|timeline|timeframe|pilot|proof of concept|poc|trial|"
    r"choose|chose|pick|select|decid\w*|sign(?:ing)?|order|add(?:ing)? (?:\w+ )?(?:seats|users)|"
    r"expand|upgrade|want (?:it|this|something)|recommend\w*|present(?:ation)?|"
    r"shortlist\w*|report back|(?:planned|scheduled|slated|budgeted|approved) "
    r"for|using it|running|in use|kick-?off|award(?:ed|ing)?)\b"
)
#: Timeline cues that name the decision itself (signing, award, go-live), not a step.
TIMELINE_DECISIVE = rx(
    r"\b(?:sign(?:ed|ing)?|award(?:ed|ing)?|go-?live|live|decision|decide|purchase|contract|"
    r"up and running|in place)\b"
)
URGENCY = rx(
    r"\b(?:asap|as soon as possible|urgent(?:ly)?|hard (?:date|deadline)|deadline|critical|"
    r"can't wait|cannot wait|immediately|right away|this quarter|end of (?:the )?quarter|"
    r"no later than|must|top priority|before (?:the )?renewal|expires?)\b"
)

AUTHORITY = rx(
    r"\b(?:final (?:sign-?off|say|decision|approval|call)|signs? (?:the |off|contracts?|on)|"
    r"sign-?off (?:comes from|sits with|is with|from)|decision (?:sits|rests|lies|is) with|"
    r"(?:run it|run this) (?:by|past)|get (?:approval|sign-?off|the green light) from|"
    r"approval from|makes? the (?:final )?(?:call|decision)|owns? the (?:decision|budget)|"
    r"decision[\s-]?maker|(?:approves|controls|holds) the budget|has to approve|needs to approve|"
    r"will approve|approves (?:all|any|every)|the one who (?:signs|decides|approves)|"
    r"(?:goes|has to go|needs to go) (?:to|up to) (?:our|the)|economic buyer|budget holder|"
    r"authority to (?:sign|buy|approve)|"
    r"owns? (?:the|that|this) (?:final )?(?:decision|call|budget)|"
    r"(?:would|will|can|to|going to) sign\b|signs? (?:\w+ ){0,2}(?:contracts?|orders?|pos|"
    r"agreements?|invoices?)|approves? (?:\w+ )?(?:purchases|purchase orders|spend|contracts)|"
    r"(?:has |had |already )?approved (?:the |a |our )?"
    r"(?:[$€£]\s?[\d,.]+\s?k?\s?|\w+ )?(?:budget|spend|purchase|investment|funding)|"
    r"approved [$€£]\s?[\d,.]+|approves (?:anything|everything|all|any|every|purchases|spend)|"
    r"(?:is|are) (?:the )?(?:final )?(?:approver|signatory)|decision is (?:with|up to)|"
    r"(?:given|gave|give|granted|grants) (?:(?:his|her|their|its|the) )?"
    r"(?:final |formal )?(?:approval|sign-?off|go-?ahead|green light)|"
    r"approved [\d,.]+\s?(?:k|m|thousand|million)?\s?(?:usd|eur|gbp|dollars|euros|pounds))\b"
)
#: Deferring to others: "I will check with the team", "let me run it by my boss". Not
#: authority (the speaker does not decide, and nobody who does is named).
DEFERRAL = rx(
    r"\b(?:check|confirm|discuss (?:it|this|that)|talk|speak|consult|align|sync) with|"
    r"\b(?:run|take) (?:it|this|that) (?:by|past|to)|\bask\b|\bget back to you|"
    r"\bcome back to you|\bloop in\b"
)
#: Whom a deferral names when it names nobody in particular.
VAGUE_OTHERS = rx(
    r"\b(?:the|my|our) (?:team|teams|boss|manager|management|colleagues|people|folks|leadership|"
    r"higher-?ups|superiors?|stakeholders)\b|\binternally\b|\beveryone\b|\bothers\b"
)
ECONOMIC = rx(
    r"\b(?:sign|contract|budget|final (?:sign-?off|approval|say)|approv|purse|economic buyer|"
    r"budget holder|pays?)\w*"
)
UNKNOWN_WHO = rx(
    r"\b(?:don't know|do not know|not sure|no idea|unclear|undecided|figuring out)\b.{0,25}\bwho\b"
)
SELF = re.compile(r"\b(?:I|I'm|I am|me|myself)\b")

CHAMPION_SELF = rx(
    r"\bI(?:'ll| will| am going to|'m going to| can| would| want to)\s+(?:personally\s+)?"
    r"(?:push for|champion|advocate|make the case|sell (?:this|it)|take (?:this|it) to|"
    r"bring (?:this|it) to|back (?:this|it|you)|fight for|go to bat|get (?:buy-in|sign-?off|"
    r"approval)|pitch (?:this|it)|present (?:this|it|the \w+|our \w+) to|"
    r"walk (?:our|my|the) \w+ through|push to (?:extend|roll|expand|buy|get|move))\b|"
    r"\bI(?:'m| am)\s+(?:happy|glad|keen|excited) to champion\b|\bcount me in\b|"
    r"\bI(?:'m| am)\s+(?:all in|sold|fully on board|on board|a big fan|your champion|"
    r"convinced)\b|\bI will push\b|\bI'll push\b|\byou have my support\b|"
    r"\bI(?:'m| am) (?:going to|gonna) push\b|\bI(?:'ll| will) (?:write|build|put together|"
    r"draft) (?:up )?(?:a|the) business case\b|\b(?:I|I'll|I will) recommend (?:we|that we|it|"
    r"buying|moving forward)\b|\bI(?:'m| am) presenting (?:it |this )?to\b"
)
CHAMPION_OTHER = rx(
    r"\b(?:is|'s) (?:our|your|a|the) (?:internal )?(?:champion|big fan|strong advocate|huge "
    r"supporter|biggest supporter)\b|\b(?:is pushing|will push|wants to push|keeps pushing) for\b|"
    r"\bis championing\b"
)

PAIN = rx(
    r"\b(?:problem|pain(?:ful)?|struggl\w*|hurt(?:ing|s)?|frustrat\w*|manual(?:ly)?|"
    r"spreadsheets?|by hand|(?:no|zero|poor|little|lack of) visibility|"
    r"(?:too|far too|way too) (?:late|slow|long|much time|expensive to run)|slipp?(?:ed|ing)|"
    r"bottleneck|broken|error-?prone|inaccura\w+|off by|wast(?:e|ing|ed)|headache|nightmare|"
    r"challenge|can't (?:see|trust|track|tell)|cannot (?:see|trust|track|tell)|losing|"
    r"lost (?:deals|revenue|time|customers)|churn|keeps? (?:coming up|breaking|failing)|"
    r"takes? (?:\w+ ){0,3}(?:hours|days|weeks|a full day|forever)|spend (?:hours|days)|"
    r"blind spots?|"
    r"los(?:e|es|ing|t) (?:\w+ ){0,3}(?:deals|customers|revenue|partners|money|business)|"
    r"(?:nobody|no one|don't|do not|can't|cannot) (?:really )?trusts?|stale|inefficien\w+|"
    r"(?:are|is|arrive|come in|always|often|usually) late|because of (?:it|this|that)|"
    r"spends? (?:\w+ ){0,2}(?:hours|days|weeks)|overstock\w*|shortfall|"
    r"guesswork|(?:a|the|big|real|main) issue|pain point|falling behind|"
    r"miss(?:ed|es)? (?:our |the )?(?:forecast|number|target|quota)|misses by|off by|"
    r"scrambl\w+|chasing|duplicate|messy|mess\b|clunky|"
    r"out of date|outdated|stale|slow(?:s us down)?|complain\w*|(?:is|are|was|were) (?:\w+ ){0,3}"
    r"wrong|unreliable|excel (?:files|sheets)|"
    r"los(?:e|es|ing|t) (?:\w+ ){0,3}(?:hours?|days?|weeks?|time)|"
    r"miss(?:ed|es)? (?:our |the )?\w+ (?:forecast|number|target|quota|plan))\b"
)
#: Pain words used about the conversation itself ("sorry for the slow reply").
NOT_PAIN = rx(
    r"\b(?:sorry|apologi[sz]e|apologies) (?:for |about )?(?:the |my |our )?(?:very )?"
    r"(?:slow|late|delayed)\b"
)
#: "we need it live by June", "we need go-live before October": a timeline, not a need.
NEED_TIMELINE = rx(
    r"\b(?:need|want) (?:it |this |that |to )?(?:be |go |to go )?(?:live|go-?live|in place|"
    r"up and running|ready|running|done|signed)\b|"
    r"\b(?:need|want) (?:to )?(?:have |get )?(?:it |this |the \w+ |a \w+ )?(?:live|in place|"
    r"up and running|running|ready|working) (?:by|before|until|in time|for)\b"
)
NEED = rx(
    r"\b(?:we need|we really need|we'll need|we will need|we(?:'re| are) looking (?:for|to)|"
    r"looking to (?:replace|improve|automate|fix|consolidate|get)|we want to|we'd like to|"
    r"the goal is|our goal is|priority is|we have to (?:fix|solve|improve|replace|get)|"
    r"must (?:fix|solve|improve)|need (?:a|an|better|something|one|to (?:fix|get|replace|improve|"
    r"automate|see|reduce|cut)))\b"
)
NUMBER = (
    r"(?:\d+(?:[.,]\d+)?|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|"
    r"fifteen|twenty|thirty|forty|fifty|sixty|hundred|half|a third|a quarter|a dozen|dozens)"
)
METRIC = rx(
    rf"\b{NUMBER}\s?(?:%|percent|per ?cent|percentage points|hours?|hrs|days?|weeks?|minutes|"
    rf"mins|reps|deals|people|FTEs?|headcount|x|times|tickets|accounts|customers|points|"
    rf"million|k\b|thousand|calls|emails|seats|users|months|quarters|agents|counselors)"
    r"|\$\d[\d,.]*\s?(?:k|m|million)?\b|\bdouble[- ]digits?\b|\b(?:a|one) (?:full )?(?:day|week)\b"
)
GOAL = rx(
    r"\b(?:reduce|cut|improve|increase|save|grow|lift|shorten|raise|boost|double|halve|"
    r"get (?:it |that )?(?:down|up)|bring (?:it |that )?(?:down|up)|hit|reach)\b"
)
CRITERIA = rx(
    r"\b(?:must[\s-]have|must (?:support|integrate|work|be|include|handle)|"
    r"needs? to (?:integrate|support|work with|handle|be (?:compliant|secure|able|SOC))|"
    r"has to (?:support|integrate|work|be|handle)|requirements?|criteria|non-negotiable|"
    r"deal-?breaker|key (?:for us|requirement|criterion) is|what matters (?:most )?"
    r"(?:to us|for us)|we(?:'ll| will) (?:evaluate|judge|compare|score) (?:vendors |options |"
    r"them |you )?(?:on|based on|against)|top priorit(?:y|ies) (?:is|are)|"
    r"single sign-on|SSO|SOC ?2|ISO ?27001|HIPAA|GDPR|uptime|SLA|data residency|"
    r"(?:native|out-of-the-box) integration|scorecard|need (?:it|this|you) to (?:integrate|support|"
    r"work|handle|be)|\w+ matters? (?:most|to us|for us)|matters? most|(?:main|key|first) "
    r"criteri(?:on|a)|evaluate (?:vendors |you |them )?on|(?:plugs?|hooks?) (?:in)?to|"
    r"(?:integrates?|connects?|syncs?) (?:natively )?with)\b"
)
PROCESS = rx(
    r"\b(?:procurement|security review|security questionnaire|infosec review|legal review|"
    r"legal (?:team )?(?:needs|will|has) to|vendor (?:assessment|review|onboarding|risk)|RFP|RFI|"
    r"proof of concept|POC|pilot|steering committee|board (?:approval|sign-?off)|"
    r"approval process|buying process|purchasing process|purchase order|PO|redlines?|MSA|"
    r"master services agreement|contract review|business case|short-?list(?:ed)?|"
    r"sign-?off process|(?:go|goes|going) through (?:procurement|legal|security|finance)|"
    r"finalists?|evaluation (?:process|period|phase)|(?:investment|budget|review) committee|"
    r"(?:final|sign-?off|approval) (?:stage|step)|order form|vendor selection|"
    r"(?:present|presenting) (?:it |this )?to (?:the )?(?:board|leadership|exec)|"
    r"decision by|next step(?:s)? (?:is|are|would be) (?:a |to )?"
    r"(?:review|approval|sign)|legal (?:team )?(?:has |have |will |must |needs to |has to )?"
    r"(?:review\w*|approve|sign off)|(?:reviewed|approved) by (?:legal|security|procurement)|DPA|"
    r"exec(?:utive)? committee|sign the (?:contract|order form)|order form|"
    r"vendor selection|finalists)\b"
)
#: A pilot's outcome ("the pilot numbers"): what a finished step produced, not a step ahead.
PROCESS_OUTCOME = rx(r"\b(?:pilot|poc|trial) (?:results?|numbers|feedback|data|findings|report)\b")
EVALUATION = rx(
    r"\b(?:also looking at|looking at|comparing|compared|evaluat\w+|trial(?:led|ing)?|"
    r"pilot(?:ed|ing)?|"
    r"quote from|came in (?:cheaper|lower|higher)|cheaper|prefer\w*|short-?list\w*|"
    r"alternatives?|other (?:vendors|options|tools|providers)|versus|vs\.?|bake-?off|"
    r"talking to|talked to|demo(?:ed)? (?:from|with|of)|proposal from|switch(?:ing)? to|"
    r"leaning towards|considering|replace|currently use|we use|using)\b"
)
GENERIC_COMPETITION = rx(
    r"\b(?:(?:two|three|a few|several|other) (?:other )?(?:\w+ )?(?:vendors|options|tools|"
    r"providers|solutions)|alternatives|competing (?:vendor|offer|proposal)s?|bake-?off|"
    r"(?:comparing|evaluating) (?:you|vendors|options|a few))\b"
)
INTEREST = rx(
    r"\b(?:interested in|would (?:like|love) to see|want to see|(?:send|share) (?:me |us )?"
    r"(?:the |your |a )?(?:pricing|a quote|quote|a proposal|proposal)|how much (?:does|would|is|"
    r"will)|what (?:does|would|will) (?:it|this|that) cost|pricing (?:for|on)|(?:looking|"
    r"shopping) for (?:a |an )?(?:new )?(?:tool|solution|platform|vendor|system|product)|"
    r"evaluate your|trial of your|demo of|(?:set up|schedule|book|see) a demo|free trial|"
    r"quote for|proposal for|licen[cs]es? for|seats? for|roll (?:it|this) out to|"
    r"(?:extend|expand|roll out) (?:it |this |that )?to (?:all|every|the other|other|more|our)\b|"
    r"(?:add|buy|get|expand to|upgrade to) (?:the |your )?\w+ (?:module|add-on|tier|plan|"
    r"edition)|sounds like (?:a|exactly what)|exactly what we need|could (?:really )?help us|"
    r"(?:send|share) (?:me |us )?(?:some |more )?(?:information|info|details|pricing)|"
    r"(?:want|wants|would like) to (?:add|buy|get|try|use|roll out|purchase)|"
    r"\d+ (?:seats|users|licen[cs]es)|(?:what|how much) (?:does|would|will) \w+ cost|"
    r"(?:do you|does it|does your \w+) (?:integrate|support|offer|have)|"
    r"is your (?:platform|product|tool|solution))\b"
)

OBJECTION = rx(
    r"\b(?:not (?:comfortable|convinced|sure (?:about|that|if|how))|concern(?:s|ed)?|worr(?:y|ied)|"
    r"too (?:high|expensive|much|complex|complicated|risky|long|slow)|(?:price|cost) is (?:too|a)|"
    r"don't see how|do not see how|doesn't fit|does not fit|not a (?:good )?fit|risky|"
    r"(?:a|the|big|real) risk (?:for us|to us|that)|"
    r"hesitant|push(?:ing)? back|skeptic\w*|sceptic\w*|blocker|hard to justify|"
    r"can't justify|cannot justify|out of (?:our )?budget|over (?:our )?budget|"
    r"lock-?in|not ready|no appetite|reservations|problem with your|issue with your|"
    r"(?:legal|security|IT) (?:team )?(?:has|have) (?:concerns|questions|issues)|"
    r"implementation effort|afraid|nervous|pricey|overkill)\b"
)
OBJECTION_KINDS = (
    ("price", rx(r"price|pricing|cost|expensive|budget|pricey|justify|discount")),
    ("security", rx(r"security|SOC|pen-?test|breach|compliance|infosec")),
    ("legal", rx(r"legal|contract|terms|DPA|data processing|liabilit|indemn")),
    ("integration", rx(r"integrat|stack|fit with|API|compatib|CRM")),
    ("effort", rx(r"implementation|effort|onboard|resourc|bandwidth|training|change management")),
    ("timing", rx(r"timing|not ready|next year|later|too soon|too long")),
    ("competition", rx(r"competitor|cheaper|alternative")),
)
RESOLUTION = rx(
    r"\b(?:shared|sent|addressed|resolved|agreed|offered|restructured|walked (?:them |you )?"
    r"through|(?:I|we)(?:'ll| will| can) (?:send|share|walk you|set up|arrange|get you)|"
    r"let me (?:send|share|walk|show)|walk (?:them |you )?"
    r"through|we can (?:offer|include|do|provide|waive)|we(?:'ll| will) (?:include|waive|cover|"
    r"provide|add)|happy to (?:include|offer|provide)|(?:here|attached) is|we have (?:a|an)|"
    r"that is covered|covered by|included in|no extra cost|at no cost|fixed[- ]price|discount)\b"
)
ACKNOWLEDGE = rx(
    r"\b(?:that helps|that works|that addresses|that answers|that (?:settles|solves|resolves|"
    r"covers)|makes sense now|that makes sense|sounds good|good to (?:know|hear)|great,? that|"
    r"perfect|that's (?:fine|great|reassuring|helpful)|that is (?:fine|great|reassuring|helpful)|"
    r"reassur\w+|we're ok with|we are ok with|signed off|comfortable now|"
    r"happy with that|works for us|fair enough)\b"
)
NEXT_STEP = rx(
    r"\b(?:I(?:'ll| will)|we(?:'ll| will)|let's|let us|can you|could you|you(?:'ll| will)|"
    r"please|next steps?(?: is| are| will be)?|action items?|follow[\s-]?up|"
    r"(?:I|we) (?:am|are) going to)\b[^.?!]{0,80}?\b(?:send|share|set up|schedule|book|"
    r"loop in|introduce|follow up|get back|circle back|review|draft|prepare|send over|"
    r"confirm|check|intro|invite|forward|run|present|sign|call|meet|connect|finali[sz]e|"
    r"put together|walk|demo|update|reach out)\b"
)
FUTURE_MEETING = rx(r"\b(?:calendar invite|invite|meeting|call|session|demo|workshop)\b")

POSITIVE = rx(
    r"\b(?:great|good|excellent|love|like|helpful|happy|glad|excited|impressive|impressed|"
    r"perfect|fantastic|amazing|useful|valuable|promising|interested|keen|thanks|thank you|"
    r"appreciate|exactly|awesome|nice|clear|easy|confident|agree|works|fits|yes|sure|"
    r"wonderful|brilliant|sold|on board|makes sense)\b"
)
NEGATIVE = rx(
    r"\b(?:bad|poor|hate|frustrat\w*|annoy\w*|disappoint\w*|concern\w*|worr\w+|problem|"
    r"issue|expensive|pricey|difficult|hard|confus\w+|unclear|slow|broken|risk\w*|"
    r"unhappy|skeptic\w*|not comfortable|not convinced|too high|too much|complain\w*|"
    r"painful|hurting|struggl\w+|blocker|nightmare|headache|unfortunately|no way|"
    r"cheaper|doubt\w*)\b"
)

# Names, titles ----------------------------------------------------------------------------

_UP = "A-ZÀ-ÖØ-Þ"
_LOW = "a-zß-öø-ÿ"
_CAP = rf"[{_UP}][{_LOW}]+(?:[-'][{_UP}]?[{_LOW}]+)?"
PERSON = re.compile(rf"\b{_CAP}(?:\s+(?:(?:van|de|der|von|da|di|le|la|del)\s+)?{_CAP}){{1,2}}\b")
#: "Mr. Brandt", "Dr Amari": an honorific and a surname name one person.
HONORIFIC_NAME = re.compile(rf"\b(?:Mr|Mrs|Ms|Mx|Dr|Prof)\.?\s+{_CAP}(?:\s+{_CAP})?\b")
TITLE = re.compile(
    r"\b(?:(?:Chief\s+(?:[A-Z][a-z]+\s+){1,2}Officer)|C[EFTIOMRD]O|CISO|CPO|CHRO|"
    r"(?:Senior\s+|Executive\s+|Group\s+|Regional\s+|Global\s+)?(?:VP|SVP|EVP|Vice President)"
    r"(?:\s+of)?(?:\s+(?:[A-Z][a-z]+|IT|HR|RevOps|R&D)){1,3}|"
    r"Head of(?:\s+(?:[A-Z][a-z]+|IT|HR|RevOps)){1,3}|"
    r"Director of(?:\s+(?:[A-Z][a-z]+|IT|HR)){1,3}|"
    r"(?:(?:Senior|Sr\.?|Lead|Principal|Staff|IT|HR|[A-Z][a-z]+)\s+){0,3}"
    r"(?:Director|Manager|Counsel|Analyst|Engineer|Architect|Controller|Administrator|"
    r"Specialist|Coordinator|Lead|Officer|Assistant)|General Counsel|Co-?founder|Founder|"
    r"President|Owner|Treasurer|Comptroller)\b"
)
LOWER_TITLE = rx(
    r"\b(?:our|my|the|their) (?P<t>cfo|ceo|cto|cio|coo|cro|ciso|vp of \w+|vp \w+|head of \w+|"
    r"director of \w+|finance director|it director|general counsel|legal counsel|provost|dean|"
    r"chairman|chairwoman|chair|managing director|owner|founder|"
    r"procurement (?:team|manager|lead)|boss|manager|board|controller)\b"
)
NOT_NAMES = frozenset(
    [
        "the",
        "our",
        "we",
        "i",
        "hi",
        "hello",
        "thanks",
        "thank",
        "dear",
        "best",
        "regards",
        "cheers",
        "monday",
        "tuesday",
        "wednesday",
        "thursday",
        "friday",
        "saturday",
        "sunday",
        "january",
        "february",
        "march",
        "april",
        "may",
        "june",
        "july",
        "august",
        "september",
        "october",
        "november",
        "december",
        "q1",
        "q2",
        "q3",
        "q4",
        "fy",
        "yes",
        "no",
        "ok",
        "okay",
        "great",
        "good",
        "sure",
        "and",
        "but",
        "so",
        "also",
        "happy",
        "right",
        "well",
        "let",
        "could",
        "can",
        "would",
        "will",
        "please",
        "just",
        "one",
        "two",
        "three",
        "this",
        "that",
        "these",
        "those",
        "there",
        "here",
        "what",
        "when",
        "where",
        "why",
        "how",
        "who",
        "sounds",
        "looks",
        "sorry",
        "quick",
        "following",
        "circling",
        "original",
        "message",
        "sent",
        "subject",
        "from",
        "to",
        "cc",
        "re",
        "fw",
        "fwd",
        "security",
        "legal",
        "finance",
        "procurement",
        "sales",
        "marketing",
        "engineering",
        "operations",
        "team",
        "board",
        "north",
        "south",
        "east",
        "west",
        "new",
        "old",
    ]
)

_ROLE_RULES: tuple[tuple[re.Pattern[str], tuple[StakeholderRole, ...]], ...] = (
    (
        rx(r"\b(?:cfo|finance|controller|treasurer|comptroller)\b"),
        (StakeholderRole.ECONOMIC_BUYER, StakeholderRole.DECISION_MAKER),
    ),
    (
        rx(
            r"\b(?:ceo|president|founder|owner|coo|cro|chief revenue|chief executive|"
            r"chief operating|managing director|general manager)\b"
        ),
        (StakeholderRole.DECISION_MAKER, StakeholderRole.ECONOMIC_BUYER),
    ),
    (
        rx(r"\b(?:cto|cio|chief (?:technology|information))\b"),
        (StakeholderRole.TECHNICAL_BUYER, StakeholderRole.DECISION_MAKER),
    ),
    (
        rx(
            r"\b(?:ciso|security|engineering|it|data|architect|infrastructure|technical|"
            r"platform|devops)\b"
        ),
        (StakeholderRole.TECHNICAL_BUYER, StakeholderRole.INFLUENCER),
    ),
    (
        rx(r"\b(?:procurement|purchasing|sourcing|vendor management)\b"),
        (StakeholderRole.PROCUREMENT, StakeholderRole.GATEKEEPER),
    ),
    (
        rx(r"\b(?:legal|counsel|attorney|lawyer)\b"),
        (StakeholderRole.LEGAL, StakeholderRole.GATEKEEPER),
    ),
    (
        rx(r"\b(?:assistant|coordinator|office manager|chief of staff)\b"),
        (StakeholderRole.GATEKEEPER,),
    ),
    (rx(r"\b(?:vp|vice president|head of|director|svp|evp)\b"), (StakeholderRole.INFLUENCER,)),
    (
        rx(
            r"\b(?:analyst|specialist|representative|rep|associate|administrator|admin|engineer|"
            r"user|agent)\b"
        ),
        (StakeholderRole.END_USER, StakeholderRole.USER),
    ),
    (rx(r"\b(?:manager|lead)\b"), (StakeholderRole.INFLUENCER, StakeholderRole.USER)),
)


def roles_for_title(title: str | None) -> tuple[StakeholderRole, ...]:
    """The roles a job title suggests (the heuristic baseline; first is the main one)."""
    if not title:
        return ()
    for pattern, roles in _ROLE_RULES:
        if pattern.search(lower(title)):
            return roles
    return ()


def power_for_title(title: str | None) -> float | None:
    """A 0-10 decision-power baseline from a title."""
    if not title:
        return None
    t = title.casefold()
    if re.search(r"\b(?:ceo|president|founder|owner|chief|c[efotir]o)\b", t):
        return 9.0
    if re.search(r"\b(?:svp|evp|vp|vice president)\b", t):
        return 7.5
    if re.search(r"\b(?:head of|director|controller)\b", t):
        return 6.0
    if re.search(r"\b(?:manager|lead|counsel)\b", t):
        return 4.0
    return 2.5
