/**
 * `local/no-unused-result`: a neverthrow Result (or ResultAsync) that is computed and then dropped is
 * an error nobody looks at. Flags expression statements whose value, awaited or not, is a Result:
 * `task.release();`, `await conductor.stop();`. Use the value, return it, or discard it on purpose
 * with `void`. (eslint-plugin-neverthrow 1.1.4 crashes on ESLint 10 and accepts only match/unwrapOr.)
 */
import { ESLintUtils } from '@typescript-eslint/utils';

const RESULT_TYPES = new Set(['Ok', 'Err', 'ResultAsync']);

/** True when some part of `type` (a union member) is neverthrow's Ok, Err or ResultAsync. */
function isResult(checker, type) {
  const parts = type.isUnion() ? type.types : [type];
  return parts.some((part) => {
    const symbol = part.getSymbol() ?? part.aliasSymbol;
    if (!symbol || !RESULT_TYPES.has(symbol.getName())) return false;
    return (symbol.getDeclarations() ?? []).some((declaration) => declaration.getSourceFile().fileName.includes('/neverthrow/'));
  });
}

export default ESLintUtils.RuleCreator.withoutDocs({
  meta: {
    type: 'problem',
    messages: {
      unused: 'This {{kind}} is dropped: handle it (isErr, match, orThrow), return it, or discard it explicitly with `void`.',
    },
    schema: [],
  },
  defaultOptions: [],
  create(context) {
    const services = ESLintUtils.getParserServices(context);
    const checker = services.program.getTypeChecker();
    return {
      ExpressionStatement(node) {
        let expression = node.expression;
        let awaited = false;
        if (expression.type === 'AwaitExpression') {
          expression = expression.argument;
          awaited = true;
        }
        if (expression.type !== 'CallExpression' && expression.type !== 'NewExpression') return;
        const type = services.getTypeAtLocation(expression);
        const checked = awaited ? (checker.getAwaitedType(type) ?? type) : type;
        if (isResult(checker, checked) || (awaited && isResult(checker, type))) {
          context.report({ node, messageId: 'unused', data: { kind: awaited ? 'awaited Result' : 'Result' } });
        }
      },
    };
  },
});
