"""Word lists for the sample world: names, titles, industries, products."""

from __future__ import annotations

FIRST_NAMES = (
    "James", "Mary", "Robert", "Patricia", "John", "Jennifer", "Michael", "Linda", "David",
    "Elizabeth", "William", "Barbara", "Richard", "Susan", "Joseph", "Jessica", "Thomas", "Sarah",
    "Charles", "Karen", "Daniel", "Lisa", "Matthew", "Nancy", "Anthony", "Sandra", "Mark",
    "Ashley", "Steven", "Emily", "Andrew", "Michelle", "Joshua", "Amanda", "Kevin", "Melissa",
    "Brian", "Stephanie", "Priya", "Wei", "Aisha", "Carlos", "Sofia", "Lars", "Ingrid", "Kenji",
    "Yuki", "Fatima", "Omar", "Elena", "Mateo", "Chloe", "Noah", "Zoe", "Rahul", "Ananya",
    "Hannah", "Lucas", "Mia", "Ethan", "Olivia", "Liam", "Grace", "Diego", "Camila", "Jonas",
    "Freya", "Tomasz", "Katarzyna", "Marco", "Giulia", "Pierre", "Camille", "Sven", "Nora",
)  # fmt: skip
LAST_NAMES = (
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Rodriguez",
    "Martinez", "Hernandez", "Lopez", "Wilson", "Anderson", "Thomas", "Taylor", "Moore",
    "Jackson", "Martin", "Lee", "Thompson", "White", "Harris", "Clark", "Lewis", "Robinson",
    "Walker", "Young", "Allen", "King", "Wright", "Scott", "Nguyen", "Hill", "Green", "Adams",
    "Baker", "Nelson", "Carter", "Mitchell", "Patel", "Shah", "Chen", "Wang", "Kim", "Park",
    "Tanaka", "Sato", "Muller", "Schmidt", "Rossi", "Bianchi", "Dubois", "Laurent", "Johansson",
    "Larsen", "Kowalski", "Nowak", "Okafor", "Mensah", "Haddad", "Khan", "Silva", "Santos",
    "Costa", "Fischer", "Weber", "Novak", "Murphy", "O'Brien", "Kelly", "Sullivan", "Reyes",
)  # fmt: skip

# (title, department); slots 0-2 of every account draw from ECONOMIC, TECHNICAL, OPERATIONS.
ECONOMIC_TITLES = (
    ("CFO", "Finance"), ("VP Finance", "Finance"), ("CEO", "Executive"),
    ("COO", "Operations"), ("Chief Revenue Officer", "Sales"),
)  # fmt: skip
TECHNICAL_TITLES = (
    ("CTO", "Engineering"), ("VP Engineering", "Engineering"), ("IT Director", "IT"),
    ("Head of Data", "Engineering"), ("Director of Engineering", "Engineering"),
    ("Chief Information Officer", "IT"),
)  # fmt: skip
OPERATIONS_TITLES = (
    ("Director of Operations", "Operations"), ("Head of Sales Operations", "Sales"),
    ("Revenue Operations Manager", "Sales"), ("Product Manager", "Product"),
    ("Engineering Manager", "Engineering"), ("Marketing Director", "Marketing"),
)  # fmt: skip
OTHER_TITLES = (
    ("Procurement Manager", "Procurement"), ("Legal Counsel", "Legal"),
    ("Senior Data Analyst", "Engineering"), ("Business Analyst", "Operations"),
    ("Executive Assistant", "Executive"), ("Security Engineer", "IT"),
    ("Solutions Architect", "Engineering"), ("Sales Manager", "Sales"),
    ("Finance Manager", "Finance"), ("Operations Analyst", "Operations"),
)  # fmt: skip
TITLES = ECONOMIC_TITLES + TECHNICAL_TITLES + OPERATIONS_TITLES + OTHER_TITLES
TITLE_POOLS = (
    range(len(ECONOMIC_TITLES)),
    range(len(ECONOMIC_TITLES), len(ECONOMIC_TITLES) + len(TECHNICAL_TITLES)),
    range(
        len(ECONOMIC_TITLES) + len(TECHNICAL_TITLES),
        len(ECONOMIC_TITLES) + len(TECHNICAL_TITLES) + len(OPERATIONS_TITLES),
    ),
    range(len(ECONOMIC_TITLES) + len(TECHNICAL_TITLES) + len(OPERATIONS_TITLES), len(TITLES)),
)

#: Stakeholder roles a title implies (the first is the main one).
ROLES_BY_TITLE: dict[str, tuple[str, ...]] = {
    "CFO": ("economic_buyer", "decision_maker"),
    "VP Finance": ("economic_buyer",),
    "CEO": ("decision_maker", "economic_buyer"),
    "COO": ("decision_maker",),
    "Chief Revenue Officer": ("economic_buyer", "decision_maker"),
    "CTO": ("technical_buyer", "decision_maker"),
    "VP Engineering": ("technical_buyer",),
    "IT Director": ("technical_buyer",),
    "Head of Data": ("technical_buyer", "influencer"),
    "Director of Engineering": ("technical_buyer",),
    "Chief Information Officer": ("technical_buyer", "decision_maker"),
    "Director of Operations": ("influencer",),
    "Head of Sales Operations": ("influencer", "user"),
    "Revenue Operations Manager": ("end_user",),
    "Product Manager": ("influencer",),
    "Engineering Manager": ("end_user",),
    "Marketing Director": ("influencer",),
    "Procurement Manager": ("procurement",),
    "Legal Counsel": ("legal",),
    "Senior Data Analyst": ("end_user", "user"),
    "Business Analyst": ("user",),
    "Executive Assistant": ("gatekeeper",),
    "Security Engineer": ("technical_buyer",),
    "Solutions Architect": ("influencer",),
    "Sales Manager": ("end_user",),
    "Finance Manager": ("user",),
    "Operations Analyst": ("end_user",),
}

# (industry, weight, revenue per employee in USD)
INDUSTRIES = (
    ("Software", 18, 250_000), ("Financial Services", 12, 400_000), ("Healthcare", 11, 180_000),
    ("Manufacturing", 12, 220_000), ("Retail", 9, 150_000), ("Logistics", 7, 170_000),
    ("Education", 5, 90_000), ("Media", 5, 200_000), ("Energy", 5, 500_000),
    ("Telecommunications", 5, 350_000), ("Professional Services", 7, 160_000),
    ("Hospitality", 4, 80_000),
)  # fmt: skip
# (country, weight, phone prefix, domain suffix)
COUNTRIES = (
    ("US", 50, "+1", "com"), ("GB", 10, "+44", "co.uk"), ("DE", 8, "+49", "de"),
    ("FR", 6, "+33", "fr"), ("CA", 6, "+1", "ca"), ("NL", 4, "+31", "nl"),
    ("AU", 5, "+61", "com.au"), ("SE", 3, "+46", "se"), ("IN", 4, "+91", "in"),
    ("JP", 4, "+81", "jp"),
)  # fmt: skip

NAME_PREFIXES = (
    "North", "Blue", "Silver", "Bright", "Iron", "Summit", "Clear", "Red", "Green", "Stone",
    "Oak", "Pine", "River", "Lake", "Harbor", "Eagle", "Falcon", "Atlas", "Nova", "Vertex",
    "Apex", "Pioneer", "Quantum", "Crest", "Granite", "Cedar", "Maple", "Sun", "Star", "Polar",
    "Coastal", "Prairie", "Metro", "Union", "Liberty", "Horizon", "Beacon", "Keystone", "Orbit",
    "Velvet", "Copper", "Golden", "Swift", "Bold", "True", "Prime", "Zenith", "Echo", "Aurora",
    "Delta",
)  # fmt: skip
NAME_ROOTS = (
    "wind", "field", "bridge", "point", "gate", "line", "stream", "works", "path", "bay",
    "peak", "ridge", "wave", "light", "stone", "forge", "port", "view", "crest", "shore",
    "dale", "brook", "well", "mark", "vale", "grove", "haven", "spring", "rock", "land",
)  # fmt: skip
NAME_SUFFIXES = (
    "Systems", "Labs", "Group", "Holdings", "Technologies", "Partners", "Solutions",
    "Industries", "Networks", "Dynamics", "Corp", "Ventures", "Global", "International",
    "Works", "Enterprises", "Co", "Inc",
)  # fmt: skip

OWNERS = (
    "Alex Morgan", "Jordan Lee", "Taylor Brooks", "Casey Rivera", "Morgan Price", "Riley Chen",
    "Jamie Foster", "Avery Patel", "Quinn Harper", "Drew Sullivan", "Cameron Diaz-Ortiz",
    "Skyler Grant", "Reese Donovan", "Parker Nguyen", "Rowan Ellis", "Sam Whitaker",
    "Hayden Cole", "Emerson Vance", "Blake Romero", "Kendall Moss", "Peyton Hale",
    "Dakota Frye", "Finley Shaw", "Harper Quinlan",
)  # fmt: skip
# (product line, value multiplier)
PRODUCT_LINES = (
    ("Core Platform", 1.0), ("Analytics", 0.7), ("Security Suite", 1.3),
    ("Integrations", 0.5), ("Professional Services", 0.6), ("Enterprise Add-ons", 1.6),
)  # fmt: skip
# (lead source, weight, multiplier on the chance of a champion at creation)
LEAD_SOURCES = (
    ("inbound_web", 30, 1.0), ("outbound", 25, 0.5), ("referral", 12, 3.0),
    ("event", 10, 1.0), ("partner", 10, 2.0), ("paid_search", 13, 0.8),
)  # fmt: skip
COMPETITORS = ("Dealcraft", "Forecastly", "PipeSight", "RevenueIQ", "Closewise", "SignalForge",
               "Quotient CRM")  # fmt: skip
LOST_REASONS = ("Lost to competitor", "No decision", "Budget", "Timing",
                "Blocked by stakeholder", "Chose to build in-house", "Went dark")  # fmt: skip
