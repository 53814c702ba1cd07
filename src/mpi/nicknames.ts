/**
 * Given names that are the same name in everyday use (diminutives and short forms). Written for this project
 * from general knowledge of English given names; no external list was copied. Each line is one group: names in a
 * group "agree at the nickname level" when compared. Deliberately small and conservative — a name in two groups
 * (e.g. "chris") simply belongs to both.
 */
const GROUPS = `
alexander alex alec sandy xander lex
alexandra alex alexa sandra sandy lexie
andrew andy drew
anthony tony ant
barbara barb babs
benjamin ben benny benji
catherine katherine kathryn cathy kathy kate katie kat cath
charles charlie chuck chas
charlotte charlie lottie
christopher chris kit topher
christine christina chris chrissy tina
daniel dan danny
david dave davey
deborah debra debbie deb
dorothy dot dottie
edward ed eddie ted ned
elizabeth liz lizzie beth betty eliza libby bess elise
emily em emmy
emma em
frances fran frankie
francis frank
frederick fred freddie
gabriel gabe
gregory greg
harrison harry
henry harry hank
isabella isabel bella izzy
jacob jake
james jim jimmy jamie
jennifer jen jenny
jessica jess jessie
john jack johnny jon
jonathan jon jonny
joseph joe joey
joshua josh
katherine kate katie
lachlan lachie
lawrence laurence larry laurie
leonard leo len lenny
margaret maggie meg peggy marge madge greta
matthew matt
michael mike mick mikey mickey
nathan nate
nathaniel nate nat
nicholas nick nicky
patricia pat patty trish tricia
patrick pat paddy
peter pete
rebecca becky becca bec
richard rick ricky dick rich
robert bob bobby rob robbie bert
ronald ron ronnie
samantha sam sammy
samuel sam sammy
stephen steven steve stevie
susan sue susie suzanne
theodore theo ted teddy
thomas tom tommy
timothy tim timmy
victoria vicky tori
william bill billy will willy liam
zachary zac zack zach
`;

const groupsOf = new Map<string, number[]>();
GROUPS.trim()
  .split('\n')
  .forEach((line, g) => {
    for (const name of line.trim().split(/\s+/)) groupsOf.set(name, [...(groupsOf.get(name) ?? []), g]);
  });

/** True when the two (normalised, lower-case) given names are known forms of the same name. */
export function areNicknames(a: string, b: string): boolean {
  if (a === b) return false;
  const ga = groupsOf.get(a);
  const gb = groupsOf.get(b);
  return !!ga && !!gb && ga.some((g) => gb.includes(g));
}
